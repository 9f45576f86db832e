"""The options a task takes, checked before anything is stored or run.

A task's options come from the registry, a field manifest or ``cloudphot replay
--set``; a misspelt name or a value of the wrong type used to surface only when the
job ran (a ``TypeError`` deep in the engine) or, worse, to be ignored while the
branch "succeeded" unchanged. :func:`check_task_options` refuses both, naming the
option and listing the valid ones. The schema is written here by hand: the options
are a handful of plain values read in a few places, and the photometry tunables'
types come from :class:`~cloudphot.photometry.PhotometryOptions` itself.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import InvalidEvent

__all__ = ["check_photometry_options", "check_reduce_options", "check_task_options"]


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _fits(value: Any, hint: Any) -> bool:
    """Whether a JSON value is of the annotated type (an int is a float; a bool is neither)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return any(_fits(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if hint is dict:
        return isinstance(value, Mapping)
    return True  # a type this schema does not know: the dataclass's own checks decide


def _type_name(hint: Any) -> str:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return " or ".join(_type_name(h) for h in typing.get_args(hint))
    return {type(None): "null", float: "a number", int: "an integer", bool: "true/false"}.get(
        hint, getattr(hint, "__name__", str(hint))
    )


def check_photometry_options(given: Any, where: str = "options.photometry") -> None:
    """Every name a :class:`PhotometryOptions` field, every value of its type."""
    from ..photometry.options import PhotometryOptions

    if not isinstance(given, Mapping):
        raise InvalidEvent(f"{where}: expected an object of engine options, got {_kind(given)}")
    hints = typing.get_type_hints(PhotometryOptions)
    names = [f.name for f in dataclasses.fields(PhotometryOptions)]
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise InvalidEvent(
            f"{where}: unknown option(s) {', '.join(unknown)}; the engine's options are: "
            + ", ".join(names)
        )
    for name, value in given.items():
        if not _fits(value, hints[name]):
            default = getattr(PhotometryOptions(), name)
            raise InvalidEvent(
                f"{where}.{name}: {value!r} is not {_type_name(hints[name])} "
                f"(the default is {default!r})"
            )
    try:
        PhotometryOptions(**given)
    except (TypeError, ValueError) as exc:
        raise InvalidEvent(f"{where}: {exc}") from None


def _positive_number(value: Any, where: str) -> None:
    if not _fits(value, float) or value <= 0:
        raise InvalidEvent(f"{where}: {value!r} is not a positive number of seconds")


def _retry_limits(value: Any, where: str) -> None:
    from .reduce import RETRY_LIMITS

    if not isinstance(value, Mapping):
        raise InvalidEvent(f'{where}: expected an object such as {{"spot": 6}}')
    for name, n in value.items():
        if name not in RETRY_LIMITS:
            raise InvalidEvent(
                f"{where}: unknown budget {name!r}; the budgets are: {', '.join(RETRY_LIMITS)}"
            )
        if not _fits(n, int) or not 0 <= n <= 100:
            raise InvalidEvent(f"{where}.{name}: {n!r} is not an integer from 0 to 100")


def _engine(value: Any, where: str) -> None:
    from ..dolphot.job import ENGINES

    if value not in ENGINES:
        raise InvalidEvent(f"{where}: {value!r} is not one of {', '.join(ENGINES)}")


def _of(hint: Any, what: str = "") -> Callable[[Any, str], None]:
    def check(value: Any, where: str) -> None:
        if not _fits(value, hint):
            raise InvalidEvent(f"{where}: {value!r} is not {what or _type_name(hint)}")

    return check


#: reduce_field's options: name -> check(value, where)
REDUCE_OPTIONS: dict[str, Callable[[Any, str], None]] = {
    "photometry": check_photometry_options,
    "engine": _engine,
    "dolphot": _of(dict, "an object of DOLPHOT parameters"),
    "dolphot_timeout_s": _positive_number,
    "retry_limits": _retry_limits,
    "on_demand": _of(bool),
    "cpu": _of(int, "a Fargate vCPU size in CPU units (256 ... 16384)"),
    "memory_mib": _of(int, "a memory size in MiB"),
    "branch": _of(str, "a branch name"),
}


def check_reduce_options(options: Any, where: str = "options") -> None:
    """reduce_field's options: known names, values of the right type."""
    if not isinstance(options, Mapping):
        raise InvalidEvent(f"{where}: expected an object, got {_kind(options)}")
    for name, value in options.items():
        check = REDUCE_OPTIONS.get(name)
        if check is None:
            raise InvalidEvent(
                f"{where}: unknown option {name!r}; reduce_field's options are: "
                + ", ".join(REDUCE_OPTIONS)
            )
        check(value, f"{where}.{name}")


#: task name -> its options' check; tasks not listed take no options that change results
TASK_OPTIONS: dict[str, Callable[[Any, str], None]] = {"reduce_field": check_reduce_options}


def check_task_options(task: str, options: Any, where: str = "options") -> None:
    """:class:`InvalidEvent` naming the option when ``options`` do not fit ``task``."""
    check = TASK_OPTIONS.get(task)
    if check is not None:
        check(options, where)
