"""Golomb–Rice coding of non-negative integers: how checkpoint P-frames store their integer columns.

A frame of a churning state sets the same counters again and again; stored from a
reference (``ref - value``) each is the *age* of its value, and ages are about
geometrically distributed.  For that distribution a Rice code (a unary quotient,
then ``k`` low bits) is within a few hundredths of a bit of the entropy, while
decimal text compressed by zstd took ~13 bits a value (zstd's Huffman tables do
not pay on a hundred bytes).  A quotient of ``ESCAPE`` or more is written as
``ESCAPE`` ones and an Elias-gamma code of the rest, so one huge value among
small ones costs a few dozen bits, not millions.

Bits are handled as ``str`` of ``'0'``/``'1'``: ``int(bits, 2)``, ``bin`` and
``str.find`` do the per-bit work in C, which is what makes pure Python fast
enough here (about a microsecond a value).
"""

from __future__ import annotations

from collections.abc import Sequence

ESCAPE = 12  # quotients from here on are escaped (a geometric column never gets near with the k chosen)


def choose_k(values: Sequence[int]) -> int:
    """The parameter that codes ``values`` in the fewest bits: near log2 of their mean, checked around it."""
    if not values:
        return 0
    guess = max(0, (sum(values) // len(values)).bit_length() - 1)
    return min(range(max(0, guess - 1), guess + 2), key=lambda k: coded_bits(values, k))


def coded_bits(values: Sequence[int], k: int) -> int:
    """How many bits :func:`encode` takes for ``values`` with parameter ``k``."""
    total = 0
    for v in values:
        q = v >> k
        total += k + (q + 1 if q < ESCAPE else ESCAPE + 2 * (q - ESCAPE + 1).bit_length() - 1)
    return total


def encode(values: Sequence[int], k: int) -> str:
    """The code of ``values`` (each >= 0) as a bit string."""
    out: list[str] = []
    mask = (1 << k) - 1
    low_format = f"0{k}b"
    for v in values:
        if v < 0:
            raise ValueError(f"cannot Rice-code a negative integer ({v})")
        q = v >> k
        if q < ESCAPE:
            out.append("1" * q + "0")
        else:
            gamma = bin(q - ESCAPE + 1)[2:]
            out.append("1" * ESCAPE + "0" * (len(gamma) - 1) + gamma)
        if k:
            out.append(format(v & mask, low_format))
    return "".join(out)


def decode(bits: str, count: int, k: int, pos: int = 0) -> tuple[list[int], int]:
    """``count`` values coded with ``k`` from ``bits`` at ``pos``, and the position after them.

    Raises ValueError when the bits end too soon (a truncated or damaged frame).
    """
    values: list[int] = []
    end = len(bits)
    for _ in range(count):
        zero = bits.find("0", pos, pos + ESCAPE)
        if zero >= 0:
            q = zero - pos
            pos = zero + 1
        else:  # ESCAPE ones: an Elias-gamma code of the quotient's excess follows
            pos += ESCAPE
            one = bits.find("1", pos)
            if one < 0:
                raise ValueError("truncated integer column")
            width = one - pos + 1
            if one + width > end:
                raise ValueError("truncated integer column")
            q = ESCAPE - 1 + int(bits[one:one + width], 2)
            pos = one + width
        if pos + k > end:
            raise ValueError("truncated integer column")
        values.append((q << k) | int(bits[pos:pos + k], 2) if k else q)
        pos += k
    return values, pos


def to_bytes(bits: str) -> bytes:
    """``bits`` padded with zeros to whole bytes."""
    if not bits:
        return b""
    n = -(-len(bits) // 8)
    return (int(bits, 2) << (8 * n - len(bits))).to_bytes(n, "big")


def from_bytes(data: bytes) -> str:
    """The bits of ``data``, leading zeros kept."""
    return bin(int.from_bytes(b"\x01" + data, "big"))[3:] if data else ""
