"""Schemas: parse either form users write, and check values against them.

Two forms, which may be mixed:

* field → type name: ``{"userId": "string", "age": "integer?"}``;
* field → example value, nested: ``{"userId": "user_123", "details": {"email": "a@b.c"}}``.

A string leaf that is a type name (any case; ``?`` or ``| null`` marks it optional)
is a type; any other string is an example of a string. A nested mapping is an
object with those fields. To catch typos, a string that *almost* spells a type
name (``"strng"``, ``"integer ?"``, ``"uuid | none"``) is refused rather than
taken for an example; so is another language's name for one (``"int"``, ``"str"``)
in a type being defined (:func:`refuse_foreign_names`).

A schema is compiled once into :class:`Field` objects; checking a value is a
walk over them, never a re-parse.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ..errors import NO_SUCH_FIELD, InvalidSessionType, SchemaViolation

TYPE_NAMES = (
    "string",
    "number",
    "integer",
    "boolean",
    "array",
    "object",
    "datetime",
    "date",
    "uuid",
    "decimal",
    "bytes",
)
MAX_DEPTH = 8  # nested objects in one schema
MAX_FIELDS = 256

_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,63}")
_OPTIONAL = re.compile(r"^\s*([A-Za-z]+)\s*(\?|\|\s*null)?\s*$", re.IGNORECASE)
_MAYBE_TYPE = re.compile(r"^\s*([A-Za-z]+)\s*(\?|\|\s*\w+)\s*$")  # shaped like an optional type
_ALIASES = {  # other languages' names (Python's): refused, with ours suggested
    "int": "integer",
    "str": "string",
    "bool": "boolean",
    "float": "number",
    "dict": "object",
    "list": "array",
}

_CHECKS: dict[str, Any] = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, (list, tuple)),
    "object": lambda v: isinstance(v, Mapping),
    "datetime": lambda v: isinstance(v, dt.datetime),
    "date": lambda v: isinstance(v, dt.date) and not isinstance(v, dt.datetime),
    "uuid": lambda v: isinstance(v, uuid.UUID),
    "decimal": lambda v: isinstance(v, Decimal),
    "bytes": lambda v: isinstance(v, bytes),
}
# An example value's type name; order matters (bool before int, datetime before date).
_EXAMPLES: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (Decimal, "decimal"),
    (dt.datetime, "datetime"),
    (dt.date, "date"),
    (uuid.UUID, "uuid"),
    (bytes, "bytes"),
    (str, "string"),
    ((list, tuple), "array"),
)


@dataclass(frozen=True, slots=True)
class Field:
    """One field: its type name, whether ``None`` is allowed, and an object's fields."""

    type: str
    optional: bool = False
    fields: Mapping[str, Field] | None = None  # a nested object's known fields

    @property
    def expected(self) -> str:
        """The type as written in messages: ``"string?"``, ``"object"``."""
        return self.type + ("?" if self.optional else "")


@dataclass(frozen=True, slots=True)
class Schema:
    """A compiled schema: top-level fields, and their form as type names."""

    fields: Mapping[str, Field]

    def check_item(self, key: str, value: Any) -> None:
        """Raise :class:`SchemaViolation` unless ``value`` may be stored under ``key``."""
        field = self.fields.get(key)
        if field is None:
            raise SchemaViolation(
                key, NO_SUCH_FIELD, type_name(value), detail=f"; the schema has: {self._names()}"
            )
        _check(field, key, value)

    def check(self, payload: Mapping[str, Any], *, complete: bool, exempt: frozenset[str]) -> None:
        """Check every item of ``payload``; with ``complete``, also that every
        required (non-optional) field is present. Keys in ``exempt`` pass."""
        for key, value in payload.items():
            if key not in exempt:
                self.check_item(key, value)
        if complete:
            for name, field in self.fields.items():
                if not field.optional and name not in payload:
                    raise SchemaViolation(name, field.expected, "nothing (missing)")

    def problems(self, payload: Mapping[str, Any], exempt: frozenset[str]) -> list[str]:
        """Every violation in ``payload`` as a message (a record written under an older schema)."""
        found = []
        for key, value in payload.items():
            if key in exempt:
                continue
            try:
                self.check_item(key, value)
            except SchemaViolation as error:
                found.append(str(error))
        return found

    def as_type_names(self) -> dict[str, Any]:
        """The schema in the field → type name form (nested objects as mappings)."""
        return _names_form(self.fields)

    def _names(self) -> str:
        return ", ".join(self.fields) or "(no fields)"


def parse_schema(spec: object) -> Schema:
    """Compile ``spec`` (either form); :class:`InvalidSessionType` naming the field if wrong."""
    if not isinstance(spec, Mapping):
        raise InvalidSessionType(
            f"schema must be a mapping of field names, not {type(spec).__qualname__}",
            field="schema",
        )
    counter = [0]
    return Schema(_parse_fields(spec, "", 0, counter))


def refuse_foreign_names(spec: Mapping[str, Any], prefix: str = "") -> None:
    """Refuse, in a schema being defined (``create``, ``update``), a string leaf that is
    another language's name for a type (``"int"``, ``"str"``, ``"bool"``): a likely
    slip for ours, which :func:`parse_schema` would take for an example string. Only
    for new definitions: a type stored before this rule still reads as it did."""
    for key, value in spec.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            refuse_foreign_names(value, path)
        elif isinstance(value, str) and (meant := _slip(value)):
            raise InvalidSessionType(
                f"schema field {path!r} has the unknown type {value!r}; did you mean "
                f"{meant!r}? Type names: {', '.join(TYPE_NAMES)}, with '?' or '| null' "
                "for optional",
                field=path,
            )


def _slip(value: str) -> str | None:
    """The type name ``value`` was likely meant as, when it is another language's name
    for one (``"int"``) or one of ours mangled by spaces and marks (``"strin g"``,
    ``"integer??"``, ``"?integer"``); ``None`` for a type name or an example string."""
    word = value.strip().lower()
    if (meant := _ALIASES.get(word)) is not None:
        return meant
    match = _OPTIONAL.match(value)
    if match and match.group(1).lower() in _CHECKS:
        return None  # a type name as written: 'integer?', 'string | null'
    squeezed = re.sub(r"[\s?|]", "", re.sub(r"\|\s*null", "", word))  # ('date?|null')
    name = _ALIASES.get(squeezed, squeezed if squeezed in _CHECKS else None)
    return None if name is None else name + ("?" if "?" in word or "null" in word else "")


def type_name(value: Any) -> str:
    """The Python type of ``value`` as messages show it (``"int"``, ``"NoneType"``)."""
    return type(value).__qualname__


def _parse_fields(
    spec: Mapping[Any, Any], prefix: str, depth: int, counter: list[int]
) -> dict[str, Field]:
    if depth > MAX_DEPTH:
        raise InvalidSessionType(
            f"schema nests deeper than {MAX_DEPTH} objects at {prefix.rstrip('.')!r}",
            field=prefix.rstrip("."),
        )
    fields = {}
    for name, value in spec.items():
        path = prefix + str(name)
        if not isinstance(name, str) or not _FIELD_NAME.fullmatch(name):
            raise InvalidSessionType(
                f"schema field {path!r} is not a field name: ASCII letters, digits, _ and "
                f"-, starting with a letter or _, up to 64 characters (a field name is a key "
                f"in every session and in the listings: 'nom', not 'prénom')",
                field=path,
            )
        counter[0] += 1
        if counter[0] > MAX_FIELDS:
            raise InvalidSessionType(f"schema has more than {MAX_FIELDS} fields", field=path)
        fields[name] = _parse_field(value, path, depth, counter)
    return fields


def _parse_field(value: object, path: str, depth: int, counter: list[int]) -> Field:
    if isinstance(value, Mapping):
        return Field("object", fields=_parse_fields(value, path + ".", depth + 1, counter))
    if isinstance(value, str):
        return _parse_string(value, path)
    if value is None:
        raise InvalidSessionType(
            f"schema field {path!r} is null: an example cannot say which type it has; "
            f"write a type name such as 'string?'",
            field=path,
        )
    for kind, name in _EXAMPLES:
        if isinstance(value, kind):
            return Field(name)
    raise InvalidSessionType(
        f"schema field {path!r} has a {type_name(value)} example, which sessions cannot "
        f"store; use a type name: {', '.join(TYPE_NAMES)}",
        field=path,
    )


def _parse_string(value: str, path: str) -> Field:
    match = _OPTIONAL.match(value)
    if match and match.group(1).lower() in _CHECKS:
        return Field(match.group(1).lower(), optional=match.group(2) is not None)
    word = value.strip().lower()
    if shaped := _MAYBE_TYPE.match(value):  # refused; an optional type of a near name?
        near = _ALIASES.get(shaped.group(1).lower()) or _closest(shaped.group(1).lower())
        meant = near and near + "?"
    elif not (word.isalpha() and (meant := _closest(word))):
        return Field("string")  # an example string
    hint = f"; did you mean {meant!r}?" if meant else "."
    raise InvalidSessionType(
        f"schema field {path!r} has the unknown type {value!r}{hint} Type names: "
        f"{', '.join(TYPE_NAMES)}, with '?' or '| null' for optional",
        field=path,
    )


def _closest(word: str) -> str | None:
    """The type name ``word`` (lowercase) almost spells, if any."""
    near = difflib.get_close_matches(word, TYPE_NAMES, n=1, cutoff=0.8)
    return near[0] if near else None


def _check(field: Field, path: str, value: Any) -> None:
    if value is None:
        if field.optional:
            return
        raise SchemaViolation(path, field.expected, "NoneType")
    if not _CHECKS[field.type](value):
        raise SchemaViolation(path, field.expected, type_name(value))
    if field.fields is not None:
        for key, item in value.items():
            inner = field.fields.get(key) if isinstance(key, str) else None
            if inner is None:
                raise SchemaViolation(
                    f"{path}.{key}",
                    NO_SUCH_FIELD,
                    type_name(item),
                    detail=f"; {path!r} has: {', '.join(field.fields) or '(no fields)'}",
                )
            _check(inner, f"{path}.{key}", item)
        for key, inner in field.fields.items():
            if not inner.optional and key not in value:
                raise SchemaViolation(f"{path}.{key}", inner.expected, "nothing (missing)")


def _names_form(fields: Mapping[str, Field]) -> dict[str, Any]:
    return {
        name: _names_form(f.fields) if f.fields is not None else f.expected
        for name, f in fields.items()
    }
