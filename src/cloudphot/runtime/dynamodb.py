"""Step Functions' DynamoDB service integration, served by the local tables.

Supports what cloudphot's state machines use: putItem/getItem/updateItem/deleteItem
with typed AttributeValues, ``#name``/``:value`` placeholders, condition
expressions made of ``attribute_exists``/``attribute_not_exists``/``=`` joined
by AND (and, for putItem, alternatives of those joined by OR, without
parentheses), and update expressions with SET and ADD. Anything else is refused
with a clear error rather than guessed at.

A putItem whose condition is more than ``attribute_not_exists(key)`` is checked
and written under one lock: atomic among the runtime's threads (the state
machines of one ``cloudphot run``), as DynamoDB's own conditional writes are.
"""

from __future__ import annotations

import re
import threading
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from ..errors import ConditionFailed, ItemNotFound
from ..storage.tables import TABLE_SCHEMAS, Tables

__all__ = ["DynamoDBIntegration", "DynamoDBTaskError"]

_deser, _ser = TypeDeserializer(), TypeSerializer()


class DynamoDBTaskError(Exception):
    def __init__(self, error: str, cause: str):
        self.error, self.cause = error, cause
        super().__init__(f"{error}: {cause}")


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, set, tuple)):
        return [_plain(v) for v in value]
    return value


def _typed(value: Any) -> Any:
    def conv(v):
        if isinstance(v, float):
            return Decimal(str(v))
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, list):
            return [conv(x) for x in v]
        return v

    return _ser.serialize(conv(value))


class DynamoDBIntegration:
    def __init__(self, tables: Tables, physical_to_logical: dict[str, str]):
        self.tables = tables
        self.names = physical_to_logical
        self._put_lock = threading.Lock()

    def call(self, action: str, params: dict) -> dict:
        if not isinstance(params, dict):
            raise DynamoDBTaskError("DynamoDB.ValidationException", "Parameters must be an object")
        table = self._table(params.get("TableName"))
        if action == "putItem":
            return self._put(table, params)
        if action == "getItem":
            key = self._key(table, params.get("Key"))
            item = self.tables.get(table, key)
            return {"Item": {k: _typed(v) for k, v in item.items()}} if item else {}
        if action == "deleteItem":
            self.tables.delete(table, self._key(table, params.get("Key")))
            return {}
        if action == "updateItem":
            return self._update(table, params)
        raise DynamoDBTaskError("States.Runtime", f"dynamodb:{action} is not supported locally")

    def _table(self, name: Any) -> str:
        if name not in self.names:
            raise DynamoDBTaskError(
                "DynamoDB.ResourceNotFoundException",
                f"Requested resource not found: Table: {name} not found",
            )
        return self.names[name]

    def _key(self, table: str, key: Any) -> str:
        keyattr = TABLE_SCHEMAS[table].key
        if not isinstance(key, dict) or keyattr not in key:
            raise DynamoDBTaskError(
                "DynamoDB.ValidationException",
                f"The provided key element does not match the schema ({keyattr})",
            )
        return str(_plain(_deser.deserialize(key[keyattr])))

    @staticmethod
    def _decode(item: Any) -> dict:
        if not isinstance(item, dict):
            raise DynamoDBTaskError("DynamoDB.ValidationException", "Item must be a map")
        try:
            return {k: _plain(_deser.deserialize(v)) for k, v in item.items()}
        except (TypeError, ValueError, KeyError) as exc:
            raise DynamoDBTaskError(
                "DynamoDB.ValidationException", f"invalid AttributeValue: {exc}"
            ) from None

    def _put(self, table: str, params: dict) -> dict:
        item = self._decode(params.get("Item"))
        keyattr = TABLE_SCHEMAS[table].key
        if keyattr not in item:
            raise DynamoDBTaskError(
                "DynamoDB.ValidationException",
                f"One of the required keys was not given a value: {keyattr}",
            )
        cond = params.get("ConditionExpression")
        names = params.get("ExpressionAttributeNames") or {}
        values = self._decode(params.get("ExpressionAttributeValues") or {})
        key = str(item[keyattr])
        if not cond:
            self.tables.put(table, item)
            return {}
        alternatives = [
            self._parse_condition(part, names, values)
            for part in re.split(r"\s+OR\s+", cond.strip(), flags=re.IGNORECASE)
        ]
        if alternatives == [[("not_exists", keyattr)]]:
            try:
                self.tables.put(table, item, if_absent=True)
            except ConditionFailed:
                raise self._check_failed() from None
            return {}
        with self._put_lock:
            current = self.tables.get(table, key) or {}
            if not any(self._holds(current, clauses) for clauses in alternatives):
                raise self._check_failed()
            self.tables.put(table, item)
        return {}

    def _update(self, table: str, params: dict) -> dict:
        key = self._key(table, params.get("Key"))
        names = params.get("ExpressionAttributeNames") or {}
        values = self._decode(params.get("ExpressionAttributeValues") or {})
        sets, adds = self._parse_update(params.get("UpdateExpression", ""), names, values)
        expect = None
        if params.get("ConditionExpression"):
            clauses = self._parse_condition(params["ConditionExpression"], names, values)
            expect = {}
            for kind, attr, *rest in clauses:
                if kind == "equals":
                    expect[attr] = rest[0]
                elif kind == "not_exists":
                    expect[attr] = None
                elif kind == "exists" and attr == TABLE_SCHEMAS[table].key:
                    pass  # update() already requires the item to exist
                else:
                    self._evaluate(table, key, [(kind, attr, *rest)])
        try:
            item = self.tables.update(table, key, sets, increment=adds or None, expect=expect)
        except ItemNotFound:
            if params.get("ConditionExpression"):
                raise self._check_failed() from None
            item = {TABLE_SCHEMAS[table].key: key, **sets, **(adds or {})}
            self.tables.put(table, item)
        except ConditionFailed:
            raise self._check_failed() from None
        if params.get("ReturnValues") in ("ALL_NEW", "UPDATED_NEW"):
            return {"Attributes": {k: _typed(v) for k, v in item.items()}}
        return {}

    @staticmethod
    def _check_failed() -> DynamoDBTaskError:
        return DynamoDBTaskError(
            "DynamoDB.ConditionalCheckFailedException", "The conditional request failed"
        )

    @staticmethod
    def _holds(current: dict, clauses: list) -> bool:
        """Whether ``current`` (the item, {} when absent) satisfies every clause."""
        for kind, attr, *rest in clauses:
            ok = {
                "exists": attr in current,
                "not_exists": attr not in current,
                "equals": attr in current and current.get(attr) == (rest[0] if rest else None),
            }[kind]
            if not ok:
                return False
        return True

    def _evaluate(self, table: str, key: str, clauses: list) -> None:
        if not self._holds(self.tables.get(table, key) or {}, clauses):
            raise self._check_failed()

    @staticmethod
    def _name(token: str, names: dict) -> str:
        token = token.strip()
        if token.startswith("#"):
            if token not in names:
                raise DynamoDBTaskError(
                    "DynamoDB.ValidationException", f"ExpressionAttributeNames lacks {token}"
                )
            return names[token]
        return token

    def _parse_condition(self, expr: str, names: dict, values: dict) -> list:
        clauses: list[tuple] = []
        for part in re.split(r"\s+AND\s+", expr.strip(), flags=re.IGNORECASE):
            part = part.strip()
            m = re.fullmatch(r"(attribute_exists|attribute_not_exists)\s*\(\s*([#\w.]+)\s*\)", part)
            if m:
                kind = "exists" if m.group(1) == "attribute_exists" else "not_exists"
                clauses.append((kind, self._name(m.group(2), names)))
                continue
            m = re.fullmatch(r"([#\w.]+)\s*=\s*(:\w+)", part)
            if m and m.group(2) in values:
                clauses.append(("equals", self._name(m.group(1), names), values[m.group(2)]))
                continue
            raise DynamoDBTaskError(
                "States.Runtime",
                f"condition {part!r} is not supported by the local runtime "
                "(attribute_exists, attribute_not_exists, a = :v, joined by AND)",
            )
        return clauses

    def _parse_update(self, expr: str, names: dict, values: dict) -> tuple[dict, dict]:
        sets: dict[str, Any] = {}
        adds: dict[str, Any] = {}
        for m in re.finditer(
            r"(SET|ADD)\s+(.*?)(?=\s+(?:SET|ADD|REMOVE|DELETE)\s+|$)",
            expr.strip(),
            flags=re.IGNORECASE | re.DOTALL,
        ):
            verb, body = m.group(1).upper(), m.group(2)
            for assign in body.split(","):
                if verb == "SET":
                    lhs, _, rhs = assign.partition("=")
                    rhs = rhs.strip()
                    if rhs not in values:
                        raise DynamoDBTaskError(
                            "States.Runtime",
                            f"SET {assign.strip()!r}: only ':value' right-hand "
                            "sides are supported locally",
                        )
                    sets[self._name(lhs, names)] = values[rhs]
                else:
                    attr, val = assign.split()
                    adds[self._name(attr, names)] = values[val.strip()]
        if not sets and not adds:
            raise DynamoDBTaskError(
                "DynamoDB.ValidationException",
                f"UpdateExpression {expr!r} has no SET or ADD clause",
            )
        return sets, adds
