"""Small value classes for the CLI's start-up path, without `dataclasses`.

Importing `dataclasses` pulls in `inspect` (with `ast`, `dis`, `tokenize`) and
decorating a class runs code generation: together 15-30 ms of CPU at every
`primus-migrate inspect`, more than evaluating a whole launch script. The types
the shell front end and the diagnostics need are written as plain classes on
these two bases instead; the rest of the package keeps using dataclasses.

A subclass names its fields in `_fields` (constructor order) and writes its own
`__init__`; equality, `repr` and `replace` follow the fields as a dataclass's
would. `Frozen` records are hashable and refuse attribute assignment.
"""

from __future__ import annotations


class Record:
    """A mutable record: equal when of the same class with equal fields; unhashable."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    def _values(self) -> tuple:
        return tuple([getattr(self, name) for name in self._fields])

    def __eq__(self, other: object):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({fields})"

    def replace(self, **changes):
        """A copy with some fields changed (dataclasses.replace)."""
        values = {name: getattr(self, name) for name in self._fields}
        unknown = set(changes) - set(values)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field {sorted(unknown)[0]!r}")
        values.update(changes)
        return type(self)(**values)


class Frozen(Record):
    """An immutable record: hashable; `__init__` sets fields with `object.__setattr__`."""

    __slots__ = ()

    def __hash__(self) -> int:
        return hash(self._values())

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: {type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: {type(self).__name__} is immutable")

    def __reduce__(self):  # pickle and copy rebuild through __init__, not attribute assignment
        return self.__class__, self._values()
