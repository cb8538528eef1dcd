"""Strings that remember where each character was written.

A shell value is a tuple of `Seg`s; concatenation, slicing and splitting keep
each character's origin, so an argv token can name the line its text came
from (the `GPT_ARGS="..."` line, not the `torchrun` line).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from migrate.diagnostics import Origin


@dataclass(frozen=True, slots=True)
class Seg:
    """A run of characters written at one place (`unknown`: a value we could not know statically)."""

    text: str
    origin: Origin
    unknown: bool = False


Text = tuple[Seg, ...]
EMPTY: Text = ()


def plain(value: str, origin: Origin, unknown: bool = False) -> Text:
    return (Seg(value, origin, unknown),) if value else EMPTY


def to_str(value: Text) -> str:
    return "".join(s.text for s in value)


def is_unknown(value: Text) -> bool:
    return any(s.unknown for s in value)


def concat(*values: Text) -> Text:
    out: list[Seg] = []
    for value in values:
        for seg in value:
            if not seg.text:
                continue
            if out and out[-1].origin == seg.origin and out[-1].unknown == seg.unknown:
                out[-1] = Seg(out[-1].text + seg.text, seg.origin, seg.unknown)
            else:
                out.append(seg)
    return tuple(out)


def slice_text(value: Text, start: int, end: int | None = None) -> Text:
    """value[start:end] by character index, keeping origins."""
    total = sum(len(s.text) for s in value)
    if end is None or end > total:
        end = total
    out: list[Seg] = []
    pos = 0
    for seg in value:
        seg_end = pos + len(seg.text)
        lo, hi = max(start, pos), min(end, seg_end)
        if lo < hi:
            out.append(Seg(seg.text[lo - pos : hi - pos], seg.origin, seg.unknown))
        pos = seg_end
    return tuple(out)


def first_origin(value: Text, fallback: Origin) -> Origin:
    """The line most of a token's text was written on (ties: the earliest part).

    `"--$name"` called as `add_flag lr` names the call line, not the helper's body: letters and
    digits carry the meaning, so punctuation such as the `--` prefix only counts when a token has
    nothing else.
    """
    for significant in (lambda text: sum(ch.isalnum() for ch in text), lambda text: len(text.strip())):
        weights: dict[Origin, int] = {}
        for seg in value:
            n = significant(seg.text)
            if n:
                weights[seg.origin] = weights.get(seg.origin, 0) + n
        if weights:
            return max(weights, key=lambda o: weights[o])  # max keeps the first of equal weights
    return value[0].origin if value else fallback


class Source:
    """Maps byte offsets of parsed text back to origins (a file, or an eval string)."""

    def __init__(self, name: str, text: str, segs: Text | None = None) -> None:
        self.name = name
        self._segs = segs
        if segs is None:
            data = text.encode("utf-8", "surrogateescape")
            starts = [0]
            at = data.find(b"\n")
            while at != -1:
                starts.append(at + 1)
                at = data.find(b"\n", at + 1)
            self._line_starts = starts
        else:
            self._segs_list = list(segs)
            self._starts: list[int] = []  # byte offset where each segment starts
            pos = 0
            for seg in segs:
                self._starts.append(pos)
                pos += len(seg.text.encode("utf-8", "surrogateescape"))
            self._size = pos

    @property
    def is_file(self) -> bool:
        return self._segs is None

    def origin(self, offset: int, line: int, col: int = 0) -> tuple[Origin, bool]:
        """(origin, unknown) of the character at `offset` (line/col as shfmt reported)."""
        if self._segs is None:
            return Origin(self.name, line), False
        seg = self.seg_at(offset)
        return (seg.origin, seg.unknown) if seg is not None else (Origin(self.name, 0), False)

    def seg_at(self, offset: int) -> Seg | None:
        if self._segs is None or not self._segs_list:
            return None
        offset = min(max(offset, 0), self._size - 1)
        return self._segs_list[bisect_right(self._starts, offset) - 1]

    def line_at(self, offset: int) -> int:
        return bisect_right(self._line_starts, offset) if self._segs is None else 0
