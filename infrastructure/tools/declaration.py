"""``@tapevm.tool``: a Python function declared as a tool, with its JSON schema derived from its type hints.

One declaration serves both doors a program has to a tool: ``(tool "name" arg ...)``
calls it, and ``(chat ... :tools ["name"])`` offers it to a model with its
:class:`ToolSpec` (name, description, parameters as JSON schema).  The schema
is pydantic's for a model made of the function's parameters, so what a model
is told matches what Python checks.

A model calls a tool with one object of named arguments: a tool (declared or
a plain function) called with exactly one mapping whose keys are all parameter
names receives them as keyword arguments (``(tool "search" (get call
:arguments))``); any other call passes its arguments positionally.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, get_type_hints, overload

import pydantic

from tapevm.domain.errors import UsageError


@dataclass(frozen=True)
class ToolSpec:
    """What a model is told of a tool: its name, what it does, its parameters (a JSON schema object)."""

    name: str
    description: str
    parameters: Mapping[str, Any]


class DeclaredTool:
    """A function with its :class:`ToolSpec`; calling it calls the function (see the module docstring)."""

    def __init__(self, fn: Callable[..., Any], name: str | None = None, description: str | None = None) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        doc = inspect.getdoc(fn) or ""
        self.spec = ToolSpec(self.name, description if description is not None else doc.split("\n\n")[0],
                             parameters_schema(fn))
        self.parameter_names = frozenset(inspect.signature(fn).parameters)
        self.__doc__ = fn.__doc__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not kwargs and named_arguments(args, self.parameter_names):
            return self.fn(**args[0])
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<tool {self.name}>"


def named_arguments(args: tuple[Any, ...], parameters: frozenset[str]) -> bool:
    """Whether ``args`` is one non-empty mapping of parameter names: a model's call, passed by name."""
    return (len(args) == 1 and isinstance(args[0], Mapping) and bool(args[0])
            and all(isinstance(k, str) for k in args[0]) and set(args[0]) <= parameters)


def call_tool(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """Call a registered tool with a program's arguments: by name when they are a model's call (one
    mapping of its parameter names, see the module docstring), else positionally."""
    if isinstance(fn, DeclaredTool):
        return fn(*args)
    try:
        parameters = frozenset(inspect.signature(fn).parameters)
    except (TypeError, ValueError):  # a callable without a signature takes its arguments as they come
        return fn(*args)
    return fn(**args[0]) if named_arguments(args, parameters) else fn(*args)


@overload
def tool(fn: Callable[..., Any], *, name: str | None = None, description: str | None = None) -> DeclaredTool: ...
@overload
def tool(fn: None = None, *, name: str | None = None,
         description: str | None = None) -> Callable[[Callable[..., Any]], DeclaredTool]: ...


def tool(fn: Callable[..., Any] | None = None, *, name: str | None = None,
         description: str | None = None) -> DeclaredTool | Callable[[Callable[..., Any]], DeclaredTool]:
    """Declare ``fn`` a tool: ``@tool`` or ``@tool(name="web-search", description=...)``.

    The name defaults to the function's, the description to its docstring's first paragraph.
    """
    if fn is None:
        return lambda f: DeclaredTool(f, name, description)
    return DeclaredTool(fn, name, description)


def parameters_schema(fn: Callable[..., Any]) -> dict[str, Any]:
    """The JSON schema (an object) of ``fn``'s parameters, from their type hints (unannotated: any value).

    ``*args``/``**kwargs`` cannot be described to a model: a UsageError names them.
    """
    signature = inspect.signature(fn)
    try:
        hints = get_type_hints(fn)
    except Exception:  # noqa: BLE001 - a hint that does not resolve describes nothing: treat it as any value
        hints = {}
    fields: dict[str, Any] = {}
    for p in signature.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise UsageError(f"tool {getattr(fn, '__name__', fn)!r}: *{p.name} cannot be described to a model; "
                             "give named parameters")
        default = ... if p.default is p.empty else p.default
        fields[p.name] = (hints.get(p.name, Any), default)
    model = pydantic.create_model(f"{getattr(fn, '__name__', 'tool')}_parameters", **fields)
    schema: dict[str, Any] = model.model_json_schema()
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    schema.setdefault("properties", {})
    return schema


def spec_of(name: str, fn: Callable[..., Any]) -> ToolSpec:
    """The spec a model is given for the tool registered as ``name``: its declared one, else derived."""
    spec = getattr(fn, "spec", None)
    if isinstance(spec, ToolSpec):
        return spec if spec.name == name else ToolSpec(name, spec.description, spec.parameters)
    doc = inspect.getdoc(fn) or ""
    return ToolSpec(name, doc.split("\n\n")[0], parameters_schema(fn))
