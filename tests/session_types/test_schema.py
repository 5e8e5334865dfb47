"""Both schema forms, their refusals, and value checks."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest

from sessionware import InvalidSessionType, SchemaViolation, SessionType, SessionwareError

TYPED = SessionType(
    name="Typed",
    schema={
        "s": "string",
        "n": "number",
        "i": "Integer",
        "b": "boolean",
        "a": "array",
        "o": "object",
        "dt": "datetime",
        "d": "date",
        "u": "uuid",
        "dec": "decimal",
        "raw": "bytes",
        "maybe": "string?",
        "nullable": "integer | null",
    },
)
EXAMPLE = SessionType(
    name="Example",
    schema={
        "userId": "user_123",
        "visits": 3,
        "score": 1.5,
        "admin": False,
        "tags": ["a"],
        "details": {"username": "johndoe", "email": "john@example.com"},
    },
    selector="$Session{details}{username}",
)

GOOD: dict[str, Any] = {
    "s": "x",
    "n": 1.5,
    "i": 3,
    "b": True,
    "a": [1, 2],
    "o": {"any": "thing"},
    "dt": dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc),
    "d": dt.date(2025, 1, 1),
    "u": uuid.uuid4(),
    "dec": Decimal("1.10"),
    "raw": b"\x00",
    "maybe": None,
    "nullable": None,
}


def test_type_name_form_accepts_values_of_every_type() -> None:
    TYPED.validate(GOOD)
    TYPED.validate({**GOOD, "n": 2, "maybe": "y", "nullable": 4})


@pytest.mark.parametrize(
    ("key", "value", "expected", "given"),
    [
        ("s", 5, "string", "int"),
        ("n", "1", "number", "str"),
        ("n", True, "number", "bool"),
        ("i", 1.0, "integer", "float"),
        ("b", 1, "boolean", "int"),
        ("a", {"x": 1}, "array", "dict"),
        ("o", [1], "object", "list"),
        ("dt", dt.date(2025, 1, 1), "datetime", "date"),
        ("d", dt.datetime(2025, 1, 1), "date", "datetime"),
        ("u", "not-a-uuid", "uuid", "str"),
        ("dec", 1.1, "decimal", "float"),
        ("raw", "text", "bytes", "str"),
        ("s", None, "string", "NoneType"),
        ("nullable", "x", "integer?", "str"),
    ],
)
def test_a_wrong_type_names_field_expected_and_given(
    key: str, value: object, expected: str, given: str
) -> None:
    with pytest.raises(SchemaViolation) as caught:
        TYPED.validate_item(key, value)
    error = caught.value
    assert (error.field, error.expected, error.given) == (key, expected, given)
    assert isinstance(error, SessionwareError) and isinstance(error, TypeError)
    assert repr(key) in str(error) and expected in str(error) and given in str(error)


def test_example_form_infers_types_and_nests() -> None:
    EXAMPLE.validate(
        {
            "userId": "u1",
            "visits": 1,
            "score": 2,
            "admin": True,
            "tags": [],
            "details": {"username": "bob", "email": "b@x"},
        }
    )
    with pytest.raises(SchemaViolation) as caught:
        EXAMPLE.validate_item("details", {"username": "bob", "email": 7})
    assert caught.value.field == "details.email"
    assert (caught.value.expected, caught.value.given) == ("string", "int")
    with pytest.raises(SchemaViolation) as caught:
        EXAMPLE.validate_item("details", {"username": "bob"})
    assert caught.value.field == "details.email"
    with pytest.raises(SchemaViolation) as caught:
        EXAMPLE.validate_item("details", {"username": "bob", "email": "e", "extra": 1})
    assert caught.value.field == "details.extra"


def test_keys_outside_the_schema_are_refused_except_framework_keys() -> None:
    with pytest.raises(SchemaViolation) as caught:
        EXAMPLE.validate_item("cart", [1])
    assert caught.value.field == "cart" and caught.value.expected == "no such field"
    assert str(caught.value).startswith("session field 'cart' is not in the schema (got list); ")
    for key in ("_flashes", "_permanent", "csrf_token", "_user_id", "_fresh"):
        EXAMPLE.validate_item(key, "anything")


def test_a_complete_payload_needs_every_required_field() -> None:
    with pytest.raises(SchemaViolation) as caught:
        EXAMPLE.validate({"userId": "u1"})
    assert caught.value.expected != "no such field"
    EXAMPLE.validate({"userId": "u1"}, complete=False)
    TYPED.validate({k: v for k, v in GOOD.items() if k not in ("maybe", "nullable")})


@pytest.mark.parametrize(
    ("schema", "field"),
    [
        ({"age": "integr"}, "age"),
        ({"age": "strng?"}, "age"),
        ({"details": {"email": "uuid | none"}}, "details.email"),
        ({"x": None}, "x"),
        ({"x": object()}, "x"),
        ({"bad name": "string"}, "bad name"),
        ({"": "string"}, ""),
        ([("a", "string")], "schema"),
    ],
)
def test_invalid_schemas_are_refused_naming_the_field(schema: Any, field: str) -> None:
    with pytest.raises(InvalidSessionType) as caught:
        SessionType(name="Broken", schema=schema)
    assert caught.value.field == field
    assert repr(field) in str(caught.value) or field == "schema"


@pytest.mark.parametrize(
    ("written", "hint"),
    [
        ("int?", "; did you mean 'integer?'? Type names: "),
        ("Int | null", "; did you mean 'integer?'? Type names: "),
        ("bool?", "; did you mean 'boolean?'? Type names: "),
        ("float?", "; did you mean 'number?'? Type names: "),
        ("str?", "; did you mean 'string?'? Type names: "),
        ("dict | null", "; did you mean 'object?'? Type names: "),
        ("list?", "; did you mean 'array?'? Type names: "),
        ("uuid | none", "; did you mean 'uuid?'? Type names: "),
        ("strng", "; did you mean 'string'? Type names: "),
        ("strng?", "; did you mean 'string?'? Type names: "),
        ("zork?", ". Type names: "),  # nothing near: the sentence still ends
    ],
)
def test_a_mistyped_type_name_gets_a_suggestion_in_a_readable_message(
    written: str, hint: str
) -> None:
    with pytest.raises(InvalidSessionType) as caught:
        SessionType(name="Typo", schema={"age": written})
    assert str(caught.value).startswith(
        f"schema field 'age' has the unknown type {written!r}{hint}string, number, integer"
    )


@pytest.mark.parametrize(
    ("selector", "ok"),
    [
        ("$Session{details}{username}", True),
        ("$Session{userId}", True),
        ("$Session{details}", False),  # an object names no user
        ("$Session{nope}", False),
        ("$Session{details}{nope}", False),
        ("userId", False),
        ("$Session{}", False),
    ],
)
def test_the_selector_must_name_a_scalar_schema_field(selector: str, ok: bool) -> None:
    schema = EXAMPLE.schema
    if ok:
        SessionType(name="S", schema=schema, selector=selector)
        return
    with pytest.raises(InvalidSessionType) as caught:
        SessionType(name="S", schema=schema, selector=selector)
    assert caught.value.field == "selector"


def test_user_of_reads_the_selected_field() -> None:
    assert EXAMPLE.user_of({"details": {"username": "bob"}}) == "bob"
    assert EXAMPLE.user_of({"userId": "u1"}) is None
    assert SessionType(name="No selector").user_of({"a": 1}) is None


def test_tags_are_generated_from_the_name_and_editable() -> None:
    assert SessionType(name="Checkout Session").tag == "checkout-session"
    assert SessionType(name="  Café  Ünïcode! ").tag == "cafe-unicode"
    assert SessionType(name="X", tag="custom_1").tag == "custom_1"
    with pytest.raises(InvalidSessionType) as caught:
        SessionType(name="X", tag="Not A Tag")
    assert caught.value.field == "tag"


def test_a_type_round_trips_as_a_document() -> None:
    assert SessionType.from_document(EXAMPLE.to_document()) == EXAMPLE
    with_examples = SessionType(name="When", schema={"at": dt.datetime(2025, 1, 1)})
    again = SessionType.from_document(with_examples.to_document())
    assert again.schema == {"at": "datetime"}
    again.validate_item("at", dt.datetime(2026, 1, 1))
