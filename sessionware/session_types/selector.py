"""Selectors: ``$Session{userId}`` or ``$Session{details}{username}``, the field
that names a session's user (for per-user listing and revocation)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..errors import InvalidSessionType
from ..identity import UserPath
from .schema import Field, Schema

_SELECTOR = re.compile(r"\$Session((?:\{[^{}]+\})+)")
_SCALARS = frozenset({"string", "number", "integer", "uuid", "decimal"})


def parse_selector(spec: object, schema: Schema) -> UserPath:
    """The path ``spec`` names; :class:`InvalidSessionType` (``field="selector"``)
    unless it is a ``$Session{a}{b}`` selector naming a scalar field of ``schema``."""
    match = _SELECTOR.fullmatch(spec.strip()) if isinstance(spec, str) else None
    if match is None:
        raise InvalidSessionType(
            f"selector must look like $Session{{field}} or $Session{{field}}{{subfield}}, "
            f"got {spec!r}",
            field="selector",
        )
    keys = tuple(match.group(1)[1:-1].split("}{"))
    fields: Mapping[str, Field] | None = schema.fields
    field: Field | None = None
    for depth, key in enumerate(keys):
        field = None if fields is None else fields.get(key)
        if field is None:
            where = ".".join(keys[:depth]) or "the schema"
            known = ", ".join(fields or ()) or "(no fields)"
            raise InvalidSessionType(
                f"selector {spec!r} names {'.'.join(keys[: depth + 1])!r}, which is not a "
                f"field of {where} (it has: {known})",
                field="selector",
            )
        fields = field.fields
    assert field is not None
    if field.type not in _SCALARS:
        raise InvalidSessionType(
            f"selector {spec!r} names a field of type {field.expected}; a user is named by "
            f"one of: {', '.join(sorted(_SCALARS))}",
            field="selector",
        )
    return UserPath(keys)


def select(path: UserPath, payload: Mapping[str, Any]) -> str | None:
    """The selected value as a str; ``None`` when absent or empty."""
    return path.find(payload)
