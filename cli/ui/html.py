"""The pieces every page is built from, and the one rule they keep: user text is escaped here.

Everything a session holds (values, source, file contents, session and snapshot names, effect
payloads) is hostile until shown otherwise, so it reaches HTML only through :func:`esc` (text and
attribute values: ``& < > " '`` escaped, and the characters that reorder or hide text, such as
U+202E RIGHT-TO-LEFT OVERRIDE, shown as ``\\u202e`` so a name cannot disguise itself) or
:func:`href` (a URL of this app, built from quoted parts: never a scheme taken from the data, so
no ``javascript:`` link can be made).  Long texts are folded (:func:`fold`): the first part shown,
the rest one click away, so a huge value neither hides the page nor floods it.
"""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Iterable, Mapping
from urllib.parse import quote, urlencode

FOLD_AT = 240            # characters of a long text shown before it is folded
SHOWN_LIMIT = 100_000    # characters of a folded text sent at all (the JSON endpoints have the rest)


def _visible_char(ch: str) -> str:
    if ch in "\n\t":
        return ch
    if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
        return f"\\u{ord(ch):04x}"
    return ch


def esc(value: object) -> str:
    """``value`` as HTML text (or an attribute's value): markup escaped, hidden characters shown."""
    text = str(value)
    if not text.isprintable():
        text = "".join(_visible_char(ch) for ch in text)
    return html.escape(text, quote=True)


def view_path(*parts: object, **query: object) -> str:
    """A view's path in this app: ``/`` + the quoted path parts, and the query (None and empty values
    left out); ``tape ui``'s URL scheme, which the pages link by and ``--ui`` prints (cli/ui_links.py)."""
    path = "/" + "/".join(quote(str(p), safe="") for p in parts)
    given = [(k, str(v)) for k, v in query.items() if v is not None and v != ""]
    return path + ("?" + urlencode(given) if given else "")


def href(*parts: object, **query: object) -> str:
    """A URL of this app (:func:`view_path`), escaped for an attribute."""
    return esc(view_path(*parts, **query))


def fold(text: str, label: str = "") -> str:
    """A text shown whole when short; else its start, then the rest behind a click, with a copy button."""
    if len(text) <= FOLD_AT:
        return f'<code class="val">{esc(text)}</code>'
    shown = text[:SHOWN_LIMIT]
    more = f" (first {SHOWN_LIMIT:,} shown)" if len(text) > SHOWN_LIMIT else ""
    return (f'<details class="fold"><summary><code class="val">{esc(text[:FOLD_AT])}</code>'
            f'<span class="more">… {len(text):,} characters{esc(label)}{more}</span></summary>'
            f'<button type="button" class="copy">copy</button><pre class="full">{esc(shown)}</pre></details>')


def table(headers: Iterable[str], rows: Iterable[Iterable[str]], cls: str = "") -> str:
    """A table whose cells are already HTML (built with :func:`esc`)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{esc(cls)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def attrs(values: Mapping[str, object]) -> str:
    return "".join(f' {k}="{esc(v)}"' for k, v in values.items() if v is not None)


HTMX_CONFIG = ('{"includeIndicatorStyles": false, "allowEval": false, "allowScriptTags": false, '
               '"historyCacheSize": 0, "selfRequestsOnly": true}')


def layout(title: str, body: str, session: str | None = None) -> str:
    """A whole page: the head (our CSS and scripts only, no inline script or style), the menu, ``body``."""
    menu = [f'<a href="{href("")}">sessions</a>', f'<a href="{href("diff")}">diff</a>']
    if session is not None:
        menu += [f'<span class="here">{esc(session)}</span>',
                 f'<a href="{href("s", session)}">timeline</a>',
                 f'<a href="{href("s", session, "state")}">time slider</a>',
                 f'<a href="{href("s", session, "replay")}">replay</a>']
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"htmx-config\" content=\"{esc(HTMX_CONFIG)}\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)} · tape ui</title>"
            "<link rel=\"stylesheet\" href=\"/static/ui.css\"><link rel=\"icon\" href=\"/static/favicon.svg\">"
            "<script src=\"/static/htmx.min.js\" defer></script><script src=\"/static/ui.js\" defer></script>"
            f"</head><body><nav class=\"menu\"><b>tape ui</b> {' '.join(menu)}</nav>"
            f"<main>{body}</main></body></html>")


def error_body(message: str) -> str:
    return f'<p class="error" role="alert">{esc(message)}</p>'
