"""The narrow door: checks of what a step is handed, shared by every step and reader.

Every Lambda step gets JSON from a state machine, a notification or a hand-written
event; a field of the wrong type must fail as :class:`~cloudphot.errors.InvalidEvent`
naming the field, never as ``AttributeError``/``TypeError``/``KeyError`` deep inside
(Step Functions would see a nameless ``Exception``). The id rules live here too,
because ids become table keys and segments of object keys.

Hand-written rather than a schema library: the requests are small, the messages must
name the field the way the state machines spell it (``event.payload.key``), and the
Lambda layers stay without pydantic.
"""

from __future__ import annotations

import re
from typing import Any, Literal, overload

from .errors import InvalidEvent

__all__ = [
    "BRANCH_RE",
    "EXPOSURE_ID_RE",
    "FIELD_ID_RE",
    "MAX_S3_KEY_BYTES",
    "branch_name",
    "exposure_id",
    "field_id",
    "integer",
    "mapping",
    "objects",
    "s3_key",
    "text",
]

#: an exposure id: ROOTNAME lower-cased (HST: 9 characters, e.g. jbt122x8q)
EXPOSURE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
#: a field id: TARGNAME normalised, or a manifest's field_id
FIELD_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._+-]{0,63}$")
#: a replay branch name
BRANCH_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,39}$")
#: S3's limit on a key, in UTF-8 bytes
MAX_S3_KEY_BYTES = 1024

_MISSING = object()


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def mapping(value: Any, where: str, *, optional: bool = False) -> dict:
    """``value`` as a JSON object (``{}`` when optional and absent)."""
    if value is None and optional:
        return {}
    if not isinstance(value, dict):
        raise InvalidEvent(f"{where} must be a JSON object, got {_shown(value)}")
    return value


@overload
def text(
    container: dict,
    key: str,
    where: str,
    *,
    optional: Literal[False] = False,
    empty: bool = False,
    max_len: int = 4096,
) -> str: ...
@overload
def text(
    container: dict,
    key: str,
    where: str,
    *,
    optional: bool,
    empty: bool = False,
    max_len: int = 4096,
) -> str | None: ...
def text(
    container: dict,
    key: str,
    where: str,
    *,
    optional: bool = False,
    empty: bool = False,
    max_len: int = 4096,
) -> str | None:
    """A string field: valid Unicode (no lone surrogates), no NUL, at most ``max_len``."""
    value = container.get(key, _MISSING)
    name = f"{where}.{key}" if where else key
    if value is _MISSING or value is None:
        if optional:
            return None
        raise InvalidEvent(f"{name} is missing: a string is required")
    if not isinstance(value, str) or (not value and not empty):
        kind = "a string" if empty else "a non-empty string"
        raise InvalidEvent(f"{name} must be {kind}, got {_shown(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidEvent(f"{name} is not valid Unicode (a lone surrogate)") from None
    if "\x00" in value:
        raise InvalidEvent(f"{name} contains a NUL character")
    if len(value) > max_len:
        raise InvalidEvent(f"{name} is {len(value)} characters long, more than {max_len}")
    return value


def integer(
    container: dict,
    key: str,
    where: str,
    *,
    default: int | None = None,
    lo: int | None = None,
    hi: int | None = None,
) -> int:
    """An integer field (not a bool); ``default`` when absent, if given."""
    value = container.get(key, _MISSING)
    name = f"{where}.{key}" if where else key
    if (value is _MISSING or value is None) and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidEvent(f"{name} must be an integer, got {_shown(value)}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise InvalidEvent(f"{name} = {value} is outside [{lo}, {hi}]")
    return value


def objects(container: dict, key: str, where: str, *, optional: bool = False) -> list[dict]:
    """A list of JSON objects (``[]`` when optional and absent)."""
    value = container.get(key)
    name = f"{where}.{key}" if where else key
    if value is None and optional:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise InvalidEvent(f"{name} must be a list of JSON objects, got {_shown(value)}")
    return value


def _id(
    container: dict, key: str, where: str, pattern: re.Pattern, rule: str, optional: bool = False
) -> Any:
    value = text(container, key, where, optional=optional)
    if value is not None and not pattern.match(value):
        name = f"{where}.{key}" if where else key
        raise InvalidEvent(f"{name} = {_shown(value)} is not {rule}")
    return value


def exposure_id(container: dict, key: str = "exposure_id", where: str = "") -> str:
    return _id(
        container, key, where, EXPOSURE_ID_RE,
        "an exposure id (1-64 lower-case letters, digits, '_', '-')",
    )  # fmt: skip


def field_id(container: dict, key: str = "field_id", where: str = "") -> str:
    return _id(
        container, key, where, FIELD_ID_RE,
        "a field id (1-64 lower-case letters, digits, '._+-')",
    )  # fmt: skip


def branch_name(options: dict, where: str = "options") -> str | None:
    return _id(
        options, "branch", where, BRANCH_RE,
        "a branch name (lower-case letters, digits, '._-')", optional=True,
    )  # fmt: skip


def s3_key(container: dict, key: str, where: str) -> str:
    """An object key S3 can hold: a non-empty string of at most 1,024 UTF-8 bytes, no NUL."""
    value = text(container, key, where, max_len=MAX_S3_KEY_BYTES)
    size = len(value.encode("utf-8"))
    if size > MAX_S3_KEY_BYTES:
        name = f"{where}.{key}" if where else key
        raise InvalidEvent(
            f"{name} is {size} bytes of UTF-8: S3 keys are at most {MAX_S3_KEY_BYTES}"
        )
    return value
