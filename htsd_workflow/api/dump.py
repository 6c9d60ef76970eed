"""Answers serialised as marshmallow would, without its per-field machinery on every request.

``Schema.dump`` walks, for every field of every nested object, ``Field.serialize`` →
``get_value`` → ``Schema.get_attribute`` → ``utils.get_value`` before the field's own
``_serialize``; a case's answer (a dozen fields, ~10 assessment items, sign-offs) costs about
as much CPU as the transition's own statements. ``dumper(schema)`` turns a schema instance into
a plain function that does the same steps directly: read the value (``obj[key]``, else the
attribute, as ``utils.get_value``), apply the field's default when missing, skip it when still
missing, and call the field's own ``_serialize``; ``Nested`` and ``List`` are followed into
their compiled inner schema or field. The output is marshmallow's, field for field.

Anything this does not reproduce step for step — dump hooks, ordered schemas, an overridden
``get_attribute`` / ``serialize`` / ``get_value``, dotted attributes, fields that do not read
an attribute (``Method``, ``Function``) — keeps marshmallow's own path: the whole schema's
``dump``, or that field's ``serialize``.
"""

from __future__ import annotations

from collections.abc import Callable

from marshmallow import Schema, fields, missing
from marshmallow.decorators import POST_DUMP, PRE_DUMP


def _read(obj, key):
    """``marshmallow.utils._get_value_for_key`` with ``missing`` as the default."""
    if not hasattr(obj, "__getitem__"):
        return getattr(obj, key, missing)
    try:
        return obj[key]
    except (KeyError, IndexError, TypeError, AttributeError):
        return getattr(obj, key, missing)


def _schema_is_plain(schema: Schema) -> bool:
    return (
        not schema._hooks[PRE_DUMP]
        and not schema._hooks[POST_DUMP]
        and not schema.ordered
        and type(schema).get_attribute is Schema.get_attribute
        and type(schema)._serialize is Schema._serialize
        and type(schema).dump is Schema.dump
    )


def _value_serializer(field: fields.Field) -> Callable:
    """``(value, attr, obj) -> serialised`` as ``field._serialize``, with ``Nested`` and
    ``List`` compiled."""
    if type(field) is fields.Nested:
        schema = field.schema
        many = bool(schema.many or field.many)
        if _schema_is_plain(schema):
            dump = _compile(schema)

            def nested(value, _attr, _obj):
                if value is None:
                    return None
                return [dump(each) for each in value] if many else dump(value)

            return nested
    if type(field) is fields.List:
        inner = _value_serializer(field.inner)

        def listed(value, attr, obj):
            if value is None:
                return None
            return [inner(each, attr, obj) for each in value]

        return listed
    return field._serialize


def _field_dumper(schema: Schema, attr_name: str, field: fields.Field) -> Callable:
    """``obj -> serialised value or missing`` for one field of ``schema``."""
    key = field.attribute if field.attribute is not None else attr_name
    plain = (
        field._CHECK_ATTRIBUTE
        and type(field).serialize is fields.Field.serialize
        and type(field).get_value is fields.Field.get_value
        and isinstance(key, str)
        and "." not in key
    )
    if not plain:
        accessor = schema.get_attribute

        def generic(obj):
            return field.serialize(attr_name, obj, accessor=accessor)

        return generic
    serialize = _value_serializer(field)
    default = field.dump_default

    def dump_field(obj):
        value = _read(obj, key)
        if value is missing:
            value = default() if callable(default) else default
            if value is missing:
                return missing
        return serialize(value, attr_name, obj)

    return dump_field


def _compile(schema: Schema) -> Callable:
    """``obj -> dict`` for one object, as ``schema._serialize(obj, many=False)``."""
    steps = [
        (
            field.data_key if field.data_key is not None else attr_name,
            _field_dumper(schema, attr_name, field),
        )
        for attr_name, field in schema.dump_fields.items()
    ]

    def dump_one(obj):
        result = {}
        for key, dump_field in steps:
            value = dump_field(obj)
            if value is not missing:
                result[key] = value
        return result

    return dump_one


def dumper(schema: Schema) -> Callable:
    """``obj -> schema.dump(obj)`` (with the schema's own ``many``), compiled once."""
    if not _schema_is_plain(schema):
        return schema.dump
    dump_one = _compile(schema)
    if schema.many:

        def dump_many(objs):
            # marshmallow serialises a None "collection" as one object (all fields missing)
            return dump_one(objs) if objs is None else [dump_one(each) for each in objs]

        return dump_many
    return dump_one
