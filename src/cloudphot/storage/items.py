"""Item rules shared by the table adapters, so SQLite refuses what DynamoDB refuses."""

from __future__ import annotations

import math
from typing import Any

from ..errors import StorageError
from .tables import TableSchema

__all__ = ["check_item", "check_key", "check_query", "check_update", "index_values", "same_value"]


def _check_value(table: str, key: Any, path: str, value: Any) -> Any:
    """Return ``value`` as plain JSON types (tuples become lists) or raise StorageError."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise StorageError(
                f"table {table!r}, item {key!r}: attribute {path} is not valid Unicode (a lone "
                "surrogate); neither SQLite nor DynamoDB can store it"
            ) from None
        return value
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise StorageError(
                f"table {table!r}, item {key!r}: attribute {path} is {value}; NaN and infinity "
                "cannot be stored (DynamoDB rejects them)"
            )
        return value
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise StorageError(
                    f"table {table!r}, item {key!r}: attribute {path} has a "
                    f"non-string map key {k!r}"
                )
            out[k] = _check_value(table, key, f"{path}.{k}", v)
        return out
    if isinstance(value, (list, tuple)):
        return [_check_value(table, key, f"{path}[{i}]", v) for i, v in enumerate(value)]
    raise StorageError(
        f"table {table!r}, item {key!r}: attribute {path} has type "
        f"{type(value).__name__}; items hold str, int, float, bool, None, "
        "list, dict"
    )


def check_item(table: str, schema: TableSchema, item: dict[str, Any]) -> dict[str, Any]:
    """Validate a whole item; return a plain-JSON copy."""
    if not isinstance(item, dict):
        raise StorageError(f"table {table!r}: an item is a dict, not {type(item).__name__}")
    key = item.get(schema.key)
    check_key(table, schema, key)
    out = {}
    for name, value in item.items():
        if not isinstance(name, str) or not name:
            raise StorageError(
                f"table {table!r}, item {key!r}: attribute name {name!r} is not a non-empty str"
            )
        out[name] = _check_value(table, key, name, value)
    index_values(table, schema, out)  # raises on index attributes of the wrong type
    return out


def check_key(table: str, schema: TableSchema, key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise StorageError(
            f"table {table!r}: key attribute {schema.key!r} must be a non-empty str, got {key!r}"
        )
    _check_value(table, key, schema.key, key)  # valid Unicode
    return key


def check_update(
    table: str,
    schema: TableSchema,
    key: str,
    changes: dict[str, Any],
    increment: dict[str, Any] | None,
    expect: dict[str, Any] | None,
) -> tuple[dict, dict, dict]:
    """Validate the arguments of ``Tables.update``; return plain-JSON copies."""
    check_key(table, schema, key)
    changes = {k: _check_value(table, key, k, v) for k, v in (changes or {}).items()}
    increment = dict(increment or {})
    expect = {k: _check_value(table, key, k, v) for k, v in (expect or {}).items()}
    for name, delta in increment.items():
        if isinstance(delta, bool) or not isinstance(delta, (int, float)):
            raise StorageError(
                f"table {table!r}, item {key!r}: increment of {name!r} must be a "
                f"number, got {delta!r}"
            )
        _check_value(table, key, name, delta)
    if schema.key in changes or schema.key in increment:
        raise StorageError(
            f"table {table!r}, item {key!r}: the key attribute {schema.key!r} cannot be updated"
        )
    both = set(changes) & set(increment)
    if both:
        raise StorageError(
            f"table {table!r}, item {key!r}: {sorted(both)} both set and incremented in one update"
        )
    if not changes and not increment:
        raise StorageError(f"table {table!r}, item {key!r}: update with nothing to change")
    for name in (*changes, *increment):
        if not isinstance(name, str) or not name:
            raise StorageError(
                f"table {table!r}, item {key!r}: attribute name {name!r} is not a non-empty str"
            )
    index_attrs = {a for pair in schema.indexes.values() for a in pair if a is not None}
    for name in index_attrs & set(changes):
        v = changes[name]
        if isinstance(v, bool) or not isinstance(v, (str, int, float)) or v == "":
            raise StorageError(
                f"table {table!r}, item {key!r}: attribute {name!r} is an index key "
                f"and must be a non-empty str or a number, got {v!r}"
            )
    return changes, increment, expect


def index_values(
    table: str, schema: TableSchema, item: dict[str, Any]
) -> dict[str, tuple[Any, Any] | None]:
    """index name -> (partition value, sort value), or None when the item is not in it.

    As in a DynamoDB GSI, an item lacking any of an index's key attributes is simply
    absent from the index; one holding a non-scalar there is refused.
    """
    out: dict[str, tuple[Any, Any] | None] = {}
    for name, (part, sort) in schema.indexes.items():
        attrs = (part,) if sort is None else (part, sort)
        if not all(a in item for a in attrs):
            out[name] = None
            continue
        values = []
        for a in attrs:
            v = item[a]
            if isinstance(v, bool) or not isinstance(v, (str, int, float)) or v == "":
                raise StorageError(
                    f"table {table!r}, item {item.get(schema.key)!r}: attribute {a!r} is a key of "
                    f"index {name!r} and must be a non-empty str or a number, got {v!r}"
                )
            values.append(v)
        out[name] = (values[0], values[1] if sort is not None else None)
    return out


def same_value(a: Any, b: Any) -> bool:
    """Equality as DynamoDB compares: numbers by value, but True is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def check_query(physical: str, schema, index: str, value, limit: int | None) -> None:
    """Arguments of :meth:`Tables.query`, checked alike by every adapter."""
    if index not in schema.indexes:
        raise StorageError(
            f"table {physical!r} has no index {index!r}; it has {sorted(schema.indexes)}"
        )
    if limit is not None and limit < 1:
        raise StorageError(f"query of {physical!r}.{index}: limit must be >= 1, got {limit}")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise StorageError(
            f"query of {physical!r}.{index}: the value must be a str or a number, got {value!r}"
        )
