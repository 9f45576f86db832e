"""The protocol every ECS task's entry point speaks (photometry, artificial stars, ...).

A worker is a process started by ECS (on AWS) or by the local ECS runner (a
subprocess). It is handed one job and must say, in a form both the local runner
and the state machine's error classification can parse, how it ended:

Input
    ``CLOUDPHOT_REQUEST`` (a JSON object) or ``CLOUDPHOT_REQUEST_FILE`` (a file
    holding one), or ``CLOUDPHOT_REQUEST_BUCKET`` + ``CLOUDPHOT_REQUEST_KEY`` (an
    object in the platform's object store, opened with the ``open_objects`` the entry
    point passes: what the state machines pass, since
    ECS container overrides are capped at 8 KiB), or the command-line options ``--request JSON`` /
    ``--request-file PATH`` / ``--job-id ID`` (the command line wins).
    ``CLOUDPHOT_JOB_ID`` names the job; it is added to the request as
    ``job_id`` unless the request has one. The other ``CLOUDPHOT_*`` and bucket
    and table variables are read by :meth:`cloudphot.settings.Settings.from_env`
    inside the job.

Output
    success: last line on stdout ``CLOUDPHOT_RESULT <json object>``, exit 0.
    failure: last line on stderr ``CLOUDPHOT_ERROR {"error": <name>, "cause": <text>}``
    (after the traceback), exit code by class:

    =====================================  ==============  ====
    exception                              error name      exit
    =====================================  ==============  ====
    DataError (and subclasses)             its class name  3
    TransientError (and subclasses)        its class name  75
    SpotInterrupted / SIGTERM received     SpotInterrupted 143
    MemoryError / OutOfMemory              OutOfMemory     137
    anything else                          its class name  1
    =====================================  ==============  ====

Spot interruption
    ECS stops a task with SIGTERM and, after the stop timeout (120 s on Spot),
    SIGKILL. The SIGTERM handler sets :data:`stop_requested` (polled by long
    loops and by :func:`cloudphot.dolphot.run_dolphot`, which kills its
    subprocesses at once) and raises :class:`~cloudphot.errors.SpotInterrupted`
    in the main thread. Whatever the job then raises, the worker reports
    ``SpotInterrupted``/143; if the job has not unwound within
    :data:`STOP_GRACE_S` seconds a watchdog writes the error line and ends the
    process with 143 itself, well inside the 120 s.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from .errors import (
    CloudphotError,
    ConfigError,
    DataError,
    OutOfMemory,
    SpotInterrupted,
    TransientError,
)
from .settings import Settings
from .storage import ObjectStore

#: the object store of a settings' platform (``lambda s: open_platform(s).objects``)
ObjectsOpener = Callable[[Settings], ObjectStore]

__all__ = [
    "ERROR_PREFIX",
    "EXIT_DATA_ERROR",
    "EXIT_OK",
    "EXIT_OTHER",
    "EXIT_OUT_OF_MEMORY",
    "EXIT_SPOT_INTERRUPTED",
    "EXIT_TRANSIENT",
    "RESULT_PREFIX",
    "STOP_GRACE_S",
    "ObjectsOpener",
    "check_stop",
    "error_name_for",
    "exit_code_for",
    "read_request",
    "run_worker",
    "stop_requested",
]

RESULT_PREFIX = "CLOUDPHOT_RESULT"
ERROR_PREFIX = "CLOUDPHOT_ERROR"
EXIT_OK = 0
EXIT_OTHER = 1
EXIT_DATA_ERROR = 3
EXIT_TRANSIENT = 75  # EX_TEMPFAIL
EXIT_OUT_OF_MEMORY = 137  # what a container killed by the OOM killer reports
EXIT_SPOT_INTERRUPTED = 143  # 128 + SIGTERM
#: seconds the job gets to unwind after SIGTERM before the watchdog ends the process
STOP_GRACE_S = 10.0
_MAX_CAUSE = 8000  # Step Functions allows 32768 characters of cause; keep room

#: Set when the worker receives SIGTERM. Long loops poll it (or call :func:`check_stop`).
stop_requested = threading.Event()
_output_lock = threading.Lock()
_reported = False


def check_stop(where: str = "") -> None:
    """Raise :class:`SpotInterrupted` when a stop was requested (for loops to call)."""
    if stop_requested.is_set():
        raise SpotInterrupted(f"stop requested{(' during ' + where) if where else ''}")


def error_name_for(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return "OutOfMemory"
    if isinstance(exc, CloudphotError):
        return exc.error_name
    return type(exc).__name__


def exit_code_for(exc: BaseException) -> int:
    if isinstance(exc, SpotInterrupted):
        return EXIT_SPOT_INTERRUPTED
    if isinstance(exc, (MemoryError, OutOfMemory)):
        return EXIT_OUT_OF_MEMORY
    if isinstance(exc, DataError):
        return EXIT_DATA_ERROR
    if isinstance(exc, TransientError):
        return EXIT_TRANSIENT
    return EXIT_OTHER


def _load_json_object(text: str, source: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{source}: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    if not isinstance(value, dict):
        raise DataError(
            f"{source}: the job request must be a JSON object, got {type(value).__name__}"
        )
    return value


def read_request(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    open_objects: ObjectsOpener | None = None,
) -> dict:
    """The job request from the command line, else the environment (see module docstring)."""
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    parser.add_argument("--request")
    parser.add_argument("--request-file")
    parser.add_argument("--job-id")
    try:
        args, extra = parser.parse_known_args(list(argv or []))
    except argparse.ArgumentError as exc:
        raise DataError(f"worker command line: {exc}") from exc
    if extra:
        raise DataError(f"worker command line: unexpected arguments {extra}")

    if args.request is not None:
        request = _load_json_object(args.request, "--request")
    elif args.request_file is not None:
        request = _read_file(args.request_file, "--request-file")
    elif env.get("CLOUDPHOT_REQUEST"):
        request = _load_json_object(env["CLOUDPHOT_REQUEST"], "CLOUDPHOT_REQUEST")
    elif env.get("CLOUDPHOT_REQUEST_FILE"):
        request = _read_file(env["CLOUDPHOT_REQUEST_FILE"], "CLOUDPHOT_REQUEST_FILE")
    elif env.get("CLOUDPHOT_REQUEST_KEY"):
        request = _read_object(
            env.get("CLOUDPHOT_REQUEST_BUCKET", ""), env["CLOUDPHOT_REQUEST_KEY"], env, open_objects
        )
    else:
        raise DataError(
            "no job request: set CLOUDPHOT_REQUEST (JSON), CLOUDPHOT_REQUEST_FILE or "
            "CLOUDPHOT_REQUEST_BUCKET/KEY, or pass --request/--request-file"
        )
    job_id = args.job_id or env.get("CLOUDPHOT_JOB_ID")
    if job_id and "job_id" not in request:
        request["job_id"] = job_id
    return request


def _read_object(
    bucket: str, key: str, env: Mapping[str, str], open_objects: ObjectsOpener | None
) -> dict:
    from .errors import ObjectNotFound

    if open_objects is None:
        raise ConfigError(
            "the job request is in the object store (CLOUDPHOT_REQUEST_KEY) but this "
            "worker's entry point gave run_worker no open_objects to read it with"
        )
    settings = Settings.from_env(env=dict(env))
    bucket = bucket or settings.bucket("products")
    try:
        raw = open_objects(settings).get_bytes(bucket, key)
    except ObjectNotFound as exc:
        raise DataError(f"job request s3://{bucket}/{key} does not exist") from exc
    return _load_json_object(raw.decode("utf-8", "replace"), f"s3://{bucket}/{key}")


def _read_file(path: str, source: str) -> dict:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"{source}={path}: cannot read the job request: {exc}") from exc
    return _load_json_object(text, f"{source}={path}")


def _emit(stream: TextIO, line: str) -> bool:
    """Write the one final protocol line, once per process (handler and main may race)."""
    global _reported
    with _output_lock:
        if _reported:
            return False
        _reported = True
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
        stream.write(line + "\n")
        stream.flush()
        return True


def _error_line(name: str, cause: str) -> str:
    if len(cause) > _MAX_CAUSE:
        cause = cause[: _MAX_CAUSE - 15] + " ...[truncated]"
    return f"{ERROR_PREFIX} " + json.dumps({"error": name, "cause": cause})


def _watchdog(grace: float) -> None:
    """End the process if the job ignores the stop (e.g. blocked in C code)."""
    if not _wait_for_exit.wait(grace):
        _emit(
            sys.stderr,
            _error_line(
                "SpotInterrupted",
                f"SIGTERM received; the job did not stop within {grace:g} s and was ended",
            ),
        )
        os._exit(EXIT_SPOT_INTERRUPTED)


_wait_for_exit = threading.Event()


def _install_sigterm(grace: float) -> Callable[[], None]:
    def handler(signum: int, frame: Any) -> None:
        first = not stop_requested.is_set()
        stop_requested.set()
        if first and not _wait_for_exit.is_set():  # the job is still running
            threading.Thread(
                target=_watchdog, args=(grace,), name="cloudphot-stop-watchdog", daemon=True
            ).start()
            raise SpotInterrupted("SIGTERM received (Spot interruption or task stop)")

    previous = signal.signal(signal.SIGTERM, handler)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def run_worker(
    main: Callable[[dict], dict],
    *,
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    stop_grace_s: float = STOP_GRACE_S,
    open_objects: ObjectsOpener | None = None,
) -> int:
    """Run one job with the worker protocol and return the process exit code.

    Typical entry point::

        if __name__ == "__main__":
            platform = current_platform()
            job = partial(photometry_job, settings=platform.settings, store=platform.objects)
            sys.exit(run_worker(job, argv=sys.argv[1:], open_objects=lambda s: platform.objects))

    ``main`` gets the request dict and returns a JSON-serialisable dict. Must be
    called from the main thread (it installs the SIGTERM handler).
    """
    global _reported
    _reported = False
    _wait_for_exit.clear()
    stop_requested.clear()
    restore = _install_sigterm(stop_grace_s)
    try:
        try:
            request = read_request(argv, environ, open_objects=open_objects)
            check_stop("startup")
            result = main(request)
            _wait_for_exit.set()  # from here a SIGTERM no longer interrupts: the job is done
            if not isinstance(result, dict):
                raise TypeError(f"the job returned {type(result).__name__}, not a dict")
            line = f"{RESULT_PREFIX} " + json.dumps(result, allow_nan=False)
        except BaseException as exc:
            _wait_for_exit.set()  # a SIGTERM now only marks the stop: the report is under way
            if isinstance(exc, (KeyboardInterrupt, SystemExit)) and not stop_requested.is_set():
                raise
            if stop_requested.is_set() and not isinstance(exc, SpotInterrupted):
                cause = f"SIGTERM received; the job then failed with {error_name_for(exc)}: {exc}"
                exc = SpotInterrupted(cause)
            traceback.print_exc(file=sys.stderr)
            _emit(sys.stderr, _error_line(error_name_for(exc), str(exc) or repr(exc)))
            return exit_code_for(exc)
        _emit(sys.stdout, line)
        return EXIT_OK
    finally:
        _wait_for_exit.set()
        restore()
