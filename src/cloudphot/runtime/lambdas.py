"""Lambda functions called in-process, with a Lambda-like context object."""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ..errors import ConfigError
from .targets import LOCAL_ACCOUNT, LOCAL_REGION, LocalTargets

__all__ = ["INVOKE_PAYLOAD_LIMIT_BYTES", "LambdaContext", "LambdaError", "LocalLambdas"]

#: Synchronous Invoke's request and response quota (Lambda quotas page: 6 MB each way).
INVOKE_PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024


@dataclass
class LambdaContext:
    """The attributes handlers (and Powertools) read from the real context."""

    function_name: str
    memory_limit_in_mb: int
    timeout_s: float
    aws_request_id: str
    invoked_function_arn: str
    log_group_name: str = ""
    log_stream_name: str = ""
    function_version: str = "$LATEST"
    _deadline: float = 0.0

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LambdaError(Exception):
    """A handler raised: carries the error name and the Lambda-shaped cause JSON."""

    def __init__(self, error: str, cause: str):
        self.error, self.cause = error, cause
        super().__init__(f"{error}: {cause}")


class LocalLambdas:
    """Imports each function's handler from its CodeUri once, and calls it."""

    def __init__(self, targets: LocalTargets, settings=None):
        self.targets = targets
        self.settings = settings  # pinned for in-process handlers (see pipeline.services)
        self._handlers: dict[str, Callable] = {}
        self._lock = threading.Lock()
        self.invocations: dict[str, int] = {}

    def handler(self, logical_id: str) -> Callable:
        with self._lock:
            if logical_id not in self._handlers:
                self._handlers[logical_id] = self._load(logical_id)
            return self._handlers[logical_id]

    def _load(self, logical_id: str) -> Callable:
        spec = self.targets.function_spec(logical_id)
        module_name, _, attr = spec.handler.rpartition(".")
        path = self.targets.root / spec.code_uri / (module_name.replace(".", "/") + ".py")
        if not path.is_file():
            raise ConfigError(
                f"{logical_id}: handler file {path} does not exist "
                f"(CodeUri {spec.code_uri!r}, Handler {spec.handler!r})"
            )
        unique = f"cloudphot_local_fn_{logical_id}"
        mod_spec = importlib.util.spec_from_file_location(unique, path)
        if mod_spec is None or mod_spec.loader is None:
            raise ConfigError(f"{path} cannot be imported as a Python module")
        module: ModuleType = importlib.util.module_from_spec(mod_spec)
        sys.modules[unique] = module
        mod_spec.loader.exec_module(module)
        try:
            return getattr(module, attr)
        except AttributeError:
            raise ConfigError(f"{path} has no function {attr!r} (Handler {spec.handler})") from None

    def invoke(self, logical_id: str, payload: Any, *, timeout_s: float | None = None) -> Any:
        """Call the handler; a raised exception becomes :class:`LambdaError` shaped as AWS reports it."""
        template_props = self.targets.template["Resources"][logical_id].get("Properties", {})
        glob = self.targets.template.get("Globals", {}).get("Function", {})
        configured = float(template_props.get("Timeout", glob.get("Timeout", 3)))
        timeout = min(timeout_s, configured) if timeout_s else configured
        request_id = str(uuid.uuid4())
        ctx = LambdaContext(
            function_name=logical_id,
            memory_limit_in_mb=int(template_props.get("MemorySize", glob.get("MemorySize", 128))),
            timeout_s=timeout,
            aws_request_id=request_id,
            invoked_function_arn=f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT}:function:{logical_id}",
            log_group_name=f"/aws/lambda/{logical_id}",
            log_stream_name=f"local/{request_id}",
            _deadline=time.monotonic() + timeout,
        )
        handler = self.handler(logical_id)
        with self._lock:
            self.invocations[logical_id] = self.invocations.get(logical_id, 0) + 1
        # JSON round trip: a real invocation serialises the payload both ways
        text = json.dumps(payload)
        if len(text.encode()) > INVOKE_PAYLOAD_LIMIT_BYTES:
            raise LambdaError(
                "Lambda.RequestTooLargeException",
                f"The request payload ({len(text.encode()):,} bytes) exceeded the Invoke "
                f"request body JSON input quota ({INVOKE_PAYLOAD_LIMIT_BYTES:,} bytes); pass "
                "a reference to an S3 object instead",
            )
        payload = json.loads(text)
        from ..pipeline.services import use_settings

        outcome: dict[str, Any] = {}

        def call() -> None:
            try:
                if self.settings is not None:
                    with use_settings(self.settings):
                        outcome["result"] = handler(payload, ctx)
                else:
                    outcome["result"] = handler(payload, ctx)
            except BaseException as exc:
                outcome["error"] = exc

        # The function's own Timeout, as Lambda enforces it. The handler's thread cannot
        # be killed, so it is left to finish in the background (a real sandbox is frozen).
        worker = threading.Thread(target=call, name=f"lambda-{logical_id}", daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            raise LambdaError(
                "Sandbox.Timedout",
                json.dumps(
                    {
                        "errorMessage": f"Task timed out after {timeout:.2f} seconds",
                        "errorType": "Sandbox.Timedout",
                        "requestId": request_id,
                    }
                ),
            )
        if "error" in outcome:
            exc = outcome["error"]
            error = type(exc).__name__
            cause = json.dumps(
                {
                    "errorMessage": str(exc),
                    "errorType": error,
                    "requestId": request_id,
                    "stackTrace": traceback.format_tb(exc.__traceback__)[-5:],
                }
            )
            raise LambdaError(error, cause) from exc
        text = json.dumps(outcome.get("result"), default=str)
        if len(text.encode()) > INVOKE_PAYLOAD_LIMIT_BYTES:
            raise LambdaError(
                "Function.ResponseSizeTooLarge",
                json.dumps(
                    {
                        "errorMessage": f"Response payload size ({len(text.encode())} bytes) "
                        f"exceeded maximum allowed payload size ({INVOKE_PAYLOAD_LIMIT_BYTES} "
                        "bytes).",
                        "errorType": "Function.ResponseSizeTooLarge",
                    }
                ),
            )
        return json.loads(text)
