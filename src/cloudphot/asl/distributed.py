"""Distributed Map: items read from the object store, child executions, results written back.

As the Step Functions developer guide describes it ("Using Map state in Distributed
mode", ItemReader, ItemBatcher, ResultWriter, failure thresholds) and as AWS records
it: the parent's history holds only ``MapStateStarted`` (``length`` 0 when items come
from an ItemReader), ``MapRunStarted`` (with the Map Run ARN), ``MapRunSucceeded`` or
``MapRunFailed`` and the Map's own exit, so it stays small whatever the item count;
each item (or batch) runs as a child execution with its own history and quota.

The interpreter reaches no storage itself: ``ObjectAccess`` (S3 GetObject,
ListObjectsV2, PutObject) and ``ChildExecutions`` (where child histories go) are
implemented by whoever runs it (``cloudphot.runtime.resources`` locally).
"""

from __future__ import annotations

import csv
import io
import json
import threading
import uuid
from typing import Any, Protocol, runtime_checkable

from .errors import StatesError

__all__ = [
    "ChildExecutions",
    "ObjectAccess",
    "batch_items",
    "parse_items",
    "result_writer_files",
]

_READER_FAILED = "States.ItemReaderFailed"
_WRITER_FAILED = "States.ResultWriterFailed"
_GET = "arn:aws:states:::s3:getObject"
_LIST = "arn:aws:states:::s3:listObjectsV2"
_PUT = "arn:aws:states:::s3:putObject"
MAX_ITEMS = 100_000_000  # ReaderConfig.MaxItems: larger values read everything (recorded)
MAX_CHILD_THREADS = 16  # local stand-in for AWS's up to 10,000 concurrent children


@runtime_checkable
class ObjectAccess(Protocol):
    """What ItemReader and ResultWriter need from S3 (injected; never imported here)."""

    def s3_get_object(self, bucket: str, key: str) -> bytes: ...

    def s3_list_objects(self, bucket: str, prefix: str) -> list[dict]: ...

    def s3_put_object(self, bucket: str, key: str, body: bytes) -> None: ...


@runtime_checkable
class ChildExecutions(Protocol):
    """Where a Map Run's child executions are recorded (like AWS's Map Run console)."""

    def child_started(self, arn: str, name: str, parent_arn: str, input: Any) -> None: ...

    def child_event(self, arn: str, event: dict) -> None: ...

    def child_finished(
        self, arn: str, status: str, output: Any, error: str | None, cause: str | None
    ) -> None: ...


def _reader_error(cause: str) -> StatesError:
    return StatesError(_READER_FAILED, cause)


def parse_items(body: bytes, config: dict) -> list:
    """Items of one object per ReaderConfig (InputType JSON, JSONL, CSV, MANIFEST)."""
    kind = config.get("InputType", "JSON")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _reader_error("The object is not UTF-8 text.") from None
    if kind == "JSON":
        try:
            items = json.loads(text)
        except ValueError:
            raise _reader_error("The object is not valid JSON.") from None
        if not isinstance(items, list):
            raise _reader_error("Attempting to map over non-iterable node.")
        return items
    if kind == "JSONL":
        out = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except ValueError:
                    raise _reader_error(f"Line {n} of the JSONL object is not JSON.") from None
        return out
    if kind == "CSV":
        rows = list(csv.reader(io.StringIO(text)))
        if config.get("CSVHeaderLocation", "FIRST_ROW") == "GIVEN":
            headers = list(config.get("CSVHeaders") or [])
        else:
            if not rows:
                return []
            headers, rows = rows[0], rows[1:]
        if len(set(headers)) != len(headers):
            raise _reader_error("CSV headers cannot contain duplicates.")
        # recorded: extra fields are dropped, missing ones are empty strings
        return [
            {h: (row[i] if i < len(row) else "") for i, h in enumerate(headers)} for row in rows
        ]
    if kind == "MANIFEST":  # an S3 Inventory manifest's CSV data files are not read here
        raise _reader_error("InputType MANIFEST (S3 Inventory) is not supported locally.")
    raise _reader_error(f"Unknown ReaderConfig.InputType {kind!r}.")


def batch_items(items: list, batcher: dict, batch_input: Any) -> list[dict]:
    """Group items as ItemBatcher does: each child gets ``{"BatchInput", "Items"}``."""
    max_items = batcher.get("MaxItemsPerBatch")
    max_bytes = batcher.get("MaxInputBytesPerBatch")
    batches: list[list] = []
    current: list = []
    size = 0
    for item in items:
        item_bytes = len(json.dumps(item, separators=(",", ":")).encode()) + 1
        full = (max_items and len(current) >= max_items) or (
            max_bytes and current and size + item_bytes > max_bytes
        )
        if full:
            batches.append(current)
            current, size = [], 0
        current.append(item)
        size += item_bytes
    if current:
        batches.append(current)
    out = []
    for b in batches:
        child: dict = {"Items": b}
        if batch_input is not None:
            child = {"BatchInput": batch_input, "Items": b}
        out.append(child)
    return out


def result_writer_files(
    bucket: str, prefix: str, map_run_arn: str, children: list[dict]
) -> tuple[dict[str, bytes], str]:
    """The objects ResultWriter writes (``<prefix>/<map run id>/``) and the manifest key."""
    run_id = map_run_arn.rsplit(":", 1)[-1]
    base = f"{prefix.rstrip('/')}/{run_id}/" if prefix else f"{run_id}/"
    files: dict[str, bytes] = {}
    listing: dict[str, list] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    for status in ("SUCCEEDED", "FAILED"):
        rows = [c for c in children if (c["Status"] == "SUCCEEDED") == (status == "SUCCEEDED")]
        if not rows:
            continue
        key = f"{base}{status}_0.json"
        body = json.dumps(rows, separators=(",", ":")).encode()
        files[key] = body
        listing[status].append({"Key": key, "Size": len(body)})
    manifest_key = f"{base}manifest.json"
    files[manifest_key] = json.dumps(
        {"DestinationBucket": bucket, "MapRunArn": map_run_arn, "ResultFiles": listing},
        separators=(",", ":"),
    ).encode()
    return files, manifest_key


def read_items(
    access: ObjectAccess | None,
    reader: dict,
    params: dict,
    max_items: int,
    field: str = "Parameters",
) -> list:
    """Run an ItemReader: ListObjectsV2 entries, or the parsed items of one object
    (``field`` names where Bucket and Key come from: Parameters or, JSONata, Arguments)."""
    if access is None:
        raise _reader_error("No object store is configured for the ItemReader.")
    resource = reader.get("Resource")
    bucket = params.get("Bucket") if isinstance(params, dict) else None
    if not isinstance(bucket, str) or not bucket:
        raise _reader_error(f"The ItemReader needs {field}.Bucket.")
    try:
        if resource == _LIST:
            items = access.s3_list_objects(bucket, str(params.get("Prefix", "")))
        elif resource == _GET:
            key = params.get("Key")
            if not isinstance(key, str) or not key:
                raise _reader_error(f"The ItemReader needs {field}.Key for s3:getObject.")
            items = parse_items(access.s3_get_object(bucket, key), reader.get("ReaderConfig", {}))
        else:
            raise _reader_error(f"Unsupported ItemReader resource {resource!r}.")
    except StatesError:
        raise
    except Exception as exc:  # the store's own error (missing object, no bucket)
        raise _reader_error(f"{type(exc).__name__}: {exc}") from None
    if max_items and max_items < MAX_ITEMS:
        items = items[:max_items]
    return items


def new_map_run_arn(state_machine_arn: str, label: str | None) -> str:
    """``arn:...:mapRun:<machine>/<label or id>:<run id>`` as AWS forms it."""
    head, _, machine = state_machine_arn.rpartition(":stateMachine:")
    run = uuid.uuid4().hex
    return f"{head}:mapRun:{machine}/{label or run[:8]}:{run}"


class ChildRecorder:
    """Thread-safe list of finished children in ResultWriter's row shape."""

    def __init__(self):
        self._lock = threading.Lock()
        self.rows: list[dict] = []

    def add(self, row: dict) -> None:
        with self._lock:
            self.rows.append(row)
