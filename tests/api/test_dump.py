"""The compiled answer serialiser (``api.dump``) gives marshmallow's output, field for field."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from marshmallow import Schema, fields, post_dump

from htsd_workflow.api import framework
from htsd_workflow.api.dump import dumper
from htsd_workflow.api.framework import OPERATIONS
from htsd_workflow.api.schemas import CaseSchema

_RESPONSE_SCHEMAS = sorted(
    {(op.response, op.response_many) for op in OPERATIONS if op.response is not None},
    key=lambda pair: (pair[0].__name__, pair[1]),
)


def _value(field: fields.Field, rng: random.Random, depth: int = 0):
    """A value for ``field``, now and then None, of an odd type, or left out (``...``)."""
    roll = rng.random()
    if roll < 0.08:
        return None
    if roll < 0.14:
        return ...
    if isinstance(field, fields.Nested):
        return _object(field.schema, rng, depth + 1)
    if isinstance(field, fields.List):
        return [_value(field.inner, rng, depth + 1) for _ in range(rng.randrange(4))]
    if isinstance(field, fields.DateTime):
        moment = datetime(2026, 11, 29, 9, 30) + timedelta(seconds=rng.randrange(10**7))
        return moment.replace(tzinfo=UTC) if rng.random() < 0.3 else moment
    if isinstance(field, fields.Boolean):
        return rng.choice([True, False, 1, 0, "true", "false", "", "x"])
    if isinstance(field, fields.Integer):
        return rng.choice([7, 0, -3, "12", True])
    if isinstance(field, fields.Number):
        return rng.choice([2, 2.5, Decimal("3.25"), "4", 0])
    if isinstance(field, fields.Dict):
        return {"a": rng.randrange(5)}
    return rng.choice(["tên", "", "x" * 5, 42])


def _object(schema: Schema, rng: random.Random, depth: int = 0):
    data = {}
    for name, field in schema.dump_fields.items():
        value = _value(field, rng, depth) if depth < 4 else None
        if value is not ...:
            data[name] = value
    if schema.many:
        return [data, dict(data)] if rng.random() < 0.9 else []
    return data if rng.random() < 0.8 else SimpleNamespace(**data)


def _same_as_marshmallow(compiled, schema: Schema, obj) -> None:
    """The same result, or the same kind of error (a dict without ``items`` hands marshmallow
    the dict's own ``items`` method, for one)."""
    try:
        expected = schema.dump(obj)
    except Exception as exc:  # noqa: BLE001
        with pytest.raises(type(exc)):
            compiled(obj)
        return
    assert compiled(obj) == expected


@pytest.mark.parametrize(
    ("schema_cls", "many"), _RESPONSE_SCHEMAS, ids=lambda v: getattr(v, "__name__", str(v))
)
def test_every_response_schema_dumps_as_marshmallow_does(schema_cls, many):
    schema = schema_cls(many=many)
    compiled = dumper(schema)
    rng = random.Random(f"{schema_cls.__name__}-{many}")
    for _ in range(200):
        obj = _object(schema_cls(), rng)
        if many:
            obj = [obj, _object(schema_cls(), rng)]
        _same_as_marshmallow(compiled, schema, obj)


def test_a_case_answer_is_compiled_and_identical_to_marshmallow():
    schema = CaseSchema()
    case = {
        "id": 12,
        "subject": {"id": 3, "name": "Dòng họ Nguyễn", "kind": "clan"},
        "title": "clan",
        "year": 2026,
        "state": "district_verification",
        "version": 4,
        "unit_code": "23535",
        "due_at": datetime(2026, 12, 1, 10, 0),
        "claimed_by": None,
        "is_escalated": 0,
        "workflow": "clan",
        "returned_from": None,
        "is_extended": False,
        "allowed_triggers": ["approve", "return"],
        "assessment": {
            "criteria_set_id": "clan-2026",
            "items": [
                {
                    "code": "A1",
                    "label": "Tiêu chí",
                    "max_points": 10,
                    "score": Decimal("7.5"),
                    "evidence": None,
                    "reviewed_score": None,
                    "review_note": None,
                },
                {"code": "A2", "label": "x", "max_points": 5, "score": None, "evidence": "e"},
            ],
            "total": 7.5,
            "passed": True,
            "missing": ["A2"],
        },
        "sign_offs": [{"department": "culture", "user": "vh", "at": datetime(2026, 11, 2)}],
    }
    compiled = dumper(schema)
    assert compiled != schema.dump  # not the fallback
    assert compiled(case) == schema.dump(case)
    assert compiled(case)["due_at"] == "2026-12-01T10:00:00Z"
    assert compiled(case)["assessment"]["items"][0]["max_points"] == 10.0


def test_what_it_does_not_reproduce_keeps_marshmallow():
    class Hooked(Schema):
        a = fields.String()

        @post_dump
        def upper(self, data, **kwargs):
            return {k: v.upper() for k, v in data.items()}

    hooked = Hooked()
    assert dumper(hooked) == hooked.dump

    class Outer(Schema):
        renamed = fields.String(data_key="name", attribute="real")
        dotted = fields.Integer(attribute="inner.value")
        method = fields.Method("make")
        default = fields.String(dump_default="d")
        nested = fields.Nested(Hooked, allow_none=True)
        many = fields.List(fields.Nested(Hooked))

        def make(self, obj):
            return "made"

    outer = Outer()
    obj = {"real": 5, "inner": {"value": "9"}, "nested": {"a": "x"}, "many": [{"a": "y"}, None]}
    assert (
        dumper(outer)(obj)
        == outer.dump(obj)
        == {
            "name": "5",
            "dotted": 9,
            "method": "made",
            "default": "d",
            "nested": {"a": "X"},
            "many": [{"a": "Y"}, None],
        }
    )
    many = Outer(many=True)
    assert dumper(many)([obj, {}]) == many.dump([obj, {}])
    assert dumper(many)(None) == many.dump(None)


def test_the_api_compiles_each_response_schema_once():
    framework._dumper.cache_clear()
    first = framework._dumper(CaseSchema, False)
    assert framework._dumper(CaseSchema, False) is first
