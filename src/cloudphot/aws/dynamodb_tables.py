"""The pipeline tables on AWS: DynamoDB through boto3.

Item values cross the boundary as DynamoDB types: floats go out as ``Decimal``
(via ``str``, so 0.1 stays 0.1) and numbers come back as ``int`` when integral,
else ``float``. DynamoDB does not keep a number's type, so a float ``2.0`` reads
back as ``2`` (equal, but an ``int``); the SQLite adapter keeps ``2.0``.

Every attribute name goes through ``ExpressionAttributeNames`` (``state``,
``name``, ``type`` and ``size`` are reserved words). Reads are strongly
consistent except on indexes (GSIs cannot be).

Retries: throttling (``ThrottlingException``, ``ProvisionedThroughputExceeded``,
``RequestLimitExceeded``) means the request was *not* applied, so every call is
retried with exponential backoff and full jitter through the injected ``sleep``,
then :class:`~cloudphot.errors.Throttled` is raised. A server error or a lost
connection leaves unknown whether a write happened: reads and unconditional
puts/deletes are retried (then :class:`~cloudphot.errors.TransientError`), but a
conditional put or an update is not, because a retry of an applied increment
would count twice and a retry of an applied ``if_absent`` would fail. The
caller's unit of retry (a task run from its event) is idempotent; this layer's
is not. When this class builds its client it turns botocore's own retries off,
so attempts do not multiply; an injected client keeps its configuration.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from ..errors import ConditionFailed, ItemNotFound, StorageError, Throttled, TransientError
from ..storage.items import check_item, check_key, check_query, check_update, same_value
from ..storage.tables import TABLE_SCHEMAS, Tables
from .codes import is_server_error, is_throttling

__all__ = ["DynamoDBTables", "from_dynamodb", "to_dynamodb"]


def _to_wire(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _to_wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_wire(v) for v in value]
    return value


def _from_wire(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_wire(v) for v in value]
    if isinstance(value, (set, frozenset)):  # written by someone else as SS/NS
        return sorted(_from_wire(v) for v in value)
    return value


def to_dynamodb(item: dict[str, Any]) -> dict[str, Any]:
    """A plain item as DynamoDB's typed JSON (``{"a": {"N": "1.5"}}``)."""
    from boto3.dynamodb.types import TypeSerializer

    ser = TypeSerializer()
    return {k: ser.serialize(_to_wire(v)) for k, v in item.items()}


def from_dynamodb(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB's typed JSON as a plain item (integral numbers as int)."""
    from boto3.dynamodb.types import TypeDeserializer

    de = TypeDeserializer()
    return {k: _from_wire(de.deserialize(v)) for k, v in item.items()}


class DynamoDBTables(Tables):
    """Tables in DynamoDB; ``names`` maps logical to physical table names."""

    def __init__(
        self,
        names: dict[str, str],
        client: Any = None,
        region: str | None = None,
        *,
        max_attempts: int = 8,
        base_delay_s: float = 0.05,
        max_delay_s: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ):
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.client(
                "dynamodb",
                region_name=region,
                config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
            )
        if max_attempts < 1:
            raise StorageError(f"max_attempts must be >= 1, got {max_attempts}")
        self.client = client
        self.names = {logical: names.get(logical, logical) for logical in TABLE_SCHEMAS}
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.sleep = sleep
        self.rng = rng or random.Random()

    def __repr__(self) -> str:
        return f"DynamoDBTables({self.names!r})"

    def _physical(self, table: str) -> str:
        self.schema(table)  # ConfigError for unknown logical names
        return self.names[table]

    # calls -----------------------------------------------------------------
    def _call(self, operation: str, *, idempotent: bool, **kwargs: Any) -> dict:
        """One API call with backoff; ClientErrors other than retryable ones pass through."""
        from botocore.exceptions import ClientError, HTTPClientError
        from botocore.exceptions import ConnectionError as BotoConnectionError

        table = kwargs.get("TableName", "?")
        method = getattr(self.client, operation)
        for attempt in range(1, self.max_attempts + 1):
            try:
                return method(**kwargs)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if is_throttling("dynamodb", code):
                    if attempt == self.max_attempts:
                        raise Throttled(
                            f"{operation} on table {table!r}: still throttled ({code}) "
                            f"after {attempt} attempts"
                        ) from exc
                elif is_server_error("dynamodb", code):
                    if not idempotent or attempt == self.max_attempts:
                        raise TransientError(
                            f"{operation} on table {table!r} failed ({code}) "
                            f"after {attempt} attempt(s)"
                        ) from exc
                else:
                    raise
            except (BotoConnectionError, HTTPClientError) as exc:
                if not idempotent or attempt == self.max_attempts:
                    raise TransientError(
                        f"{operation} on table {table!r}: {exc} after {attempt} attempt(s)"
                    ) from exc
            # full jitter: uniform in [0, min(cap, base * 2**n)]
            self.sleep(
                self.rng.uniform(0, min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1)))
            )
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _error(exc: Exception, action: str, table: str) -> StorageError:
        err = getattr(exc, "response", {}).get("Error", {})
        code, message = err.get("Code", type(exc).__name__), err.get("Message", str(exc))
        if code == "ResourceNotFoundException":
            return StorageError(
                f"cannot {action} table {table!r}: it does not exist "
                f"(deploy the stack, or set the *_TABLE variables): {message}"
            )
        return StorageError(f"cannot {action} table {table!r}: {code}: {message}")

    # writing ---------------------------------------------------------------
    def put(self, table: str, item: dict[str, Any], *, if_absent: bool = False) -> None:
        from botocore.exceptions import ClientError

        physical = self._physical(table)
        schema = self.schema(table)
        item = check_item(physical, schema, item)
        kwargs: dict[str, Any] = {"TableName": physical, "Item": to_dynamodb(item)}
        if if_absent:
            kwargs.update(
                ConditionExpression="attribute_not_exists(#k)",
                ExpressionAttributeNames={"#k": schema.key},
            )
        try:
            self._call("put_item", idempotent=not if_absent, **kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise ConditionFailed(
                    f"table {physical!r}: an item with {schema.key}="
                    f"{item[schema.key]!r} already exists"
                ) from exc
            raise self._error(exc, "put into", physical) from exc

    def update(
        self,
        table: str,
        key: str,
        changes: dict[str, Any],
        *,
        increment: dict[str, int | float] | None = None,
        expect: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        physical = self._physical(table)
        schema = self.schema(table)
        changes, increment, expect = check_update(physical, schema, key, changes, increment, expect)
        names: dict[str, str] = {}  # attribute -> placeholder
        values: dict[str, Any] = {}

        def name(attr: str) -> str:
            if attr not in names:
                names[attr] = f"#a{len(names)}"
            return names[attr]

        def value(v: Any) -> str:
            placeholder = f":v{len(values)}"
            values[placeholder] = _to_wire(v)
            return placeholder

        clauses = []
        if changes:
            clauses.append(
                "SET " + ", ".join(f"{name(a)} = {value(v)}" for a, v in changes.items())
            )
        if increment:
            clauses.append(
                "ADD " + ", ".join(f"{name(a)} {value(v)}" for a, v in increment.items())
            )
        condition = [f"attribute_exists({name(schema.key)})"]
        for attr, want in expect.items():
            condition.append(
                f"attribute_not_exists({name(attr)})"
                if want is None
                else f"{name(attr)} = {value(want)}"
            )
        from boto3.dynamodb.types import TypeSerializer

        ser = TypeSerializer()
        try:
            resp = self._call(
                "update_item",
                idempotent=False,
                TableName=physical,
                Key={schema.key: {"S": key}},
                UpdateExpression=" ".join(clauses),
                ConditionExpression=" AND ".join(condition),
                ExpressionAttributeNames={p: a for a, p in names.items()},
                ExpressionAttributeValues={p: ser.serialize(v) for p, v in values.items()},
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise self._error(exc, "update", physical) from exc
            old = exc.response.get("Item")
            current = from_dynamodb(old) if isinstance(old, dict) and old else self.get(table, key)
            if current is None:
                raise ItemNotFound(physical, {schema.key: key}) from exc
            raise ConditionFailed(_why(physical, key, current, expect)) from exc
        return from_dynamodb(resp.get("Attributes", {}))

    def delete(self, table: str, key: str) -> None:
        from botocore.exceptions import ClientError

        physical = self._physical(table)
        schema = self.schema(table)
        check_key(physical, schema, key)
        try:
            self._call(
                "delete_item", idempotent=True, TableName=physical, Key={schema.key: {"S": key}}
            )
        except ClientError as exc:
            raise self._error(exc, "delete from", physical) from exc

    # reading ---------------------------------------------------------------
    def get(self, table: str, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        physical = self._physical(table)
        schema = self.schema(table)
        check_key(physical, schema, key)
        try:
            resp = self._call(
                "get_item",
                idempotent=True,
                TableName=physical,
                Key={schema.key: {"S": key}},
                ConsistentRead=True,
            )
        except ClientError as exc:
            raise self._error(exc, "get from", physical) from exc
        item = resp.get("Item")
        return from_dynamodb(item) if item else None

    def query(
        self,
        table: str,
        index: str,
        value: Any,
        *,
        limit: int | None = None,
        descending: bool = False,
    ) -> list[dict[str, Any]]:
        from boto3.dynamodb.types import TypeSerializer
        from botocore.exceptions import ClientError

        physical = self._physical(table)
        schema = self.schema(table)
        check_query(physical, schema, index, value, limit)
        kwargs: dict[str, Any] = {
            "TableName": physical,
            "IndexName": index,
            "KeyConditionExpression": "#p = :p",
            "ExpressionAttributeNames": {"#p": schema.indexes[index][0]},
            "ExpressionAttributeValues": {":p": TypeSerializer().serialize(_to_wire(value))},
            "ScanIndexForward": not descending,
        }
        out: list[dict[str, Any]] = []
        while True:
            if limit is not None:
                kwargs["Limit"] = limit - len(out)
            try:
                resp = self._call("query", idempotent=True, **kwargs)
            except ClientError as exc:
                raise self._error(exc, f"query index {index!r} of", physical) from exc
            out.extend(from_dynamodb(i) for i in resp.get("Items", ()))
            last = resp.get("LastEvaluatedKey")
            if not last or (limit is not None and len(out) >= limit):
                return out[:limit] if limit is not None else out
            kwargs["ExclusiveStartKey"] = last

    def scan(self, table: str) -> Iterator[dict[str, Any]]:
        from botocore.exceptions import ClientError

        physical = self._physical(table)
        kwargs: dict[str, Any] = {"TableName": physical, "ConsistentRead": True}
        while True:
            try:
                resp = self._call("scan", idempotent=True, **kwargs)
            except ClientError as exc:
                raise self._error(exc, "scan", physical) from exc
            for item in resp.get("Items", ()):
                yield from_dynamodb(item)
            last = resp.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last


def _why(table: str, key: str, item: dict[str, Any], expect: dict[str, Any]) -> str:
    """Say which expectation the current item fails (best effort: it may have changed since)."""
    for attr, want in expect.items():
        if want is None and attr in item:
            return f"table {table!r}, item {key!r}: expected {attr!r} absent, found {item[attr]!r}"
        if want is not None and (attr not in item or not same_value(item[attr], want)):
            return (
                f"table {table!r}, item {key!r}: expected {attr}={want!r}, "
                f"found {item.get(attr, '<absent>')!r}"
            )
    return f"table {table!r}, item {key!r}: the expectation {expect!r} did not hold"
