"""ECS RunTask (.sync) locally: the container's entry point as a killable subprocess.

The result mirrors what Step Functions' ``ecs:runTask.sync`` returns (the
DescribeTasks task), and a failure carries the same cause JSON, with the
container's exit code and the task's ``StopCode`` (``SpotInterruption`` when the
runtime injected a Spot reclaim). Exit codes follow the worker protocol in
``ecs_tasks/photometry/README.md``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from ..worker import ERROR_PREFIX, RESULT_PREFIX
from .targets import LOCAL_ACCOUNT, LOCAL_REGION, LocalTargets

__all__ = ["OVERRIDES_LIMIT_CHARS", "EcsTaskFailed", "InterruptionPolicy", "LocalEcs"]

#: Given a task ARN, seconds after which to send SIGTERM (a simulated Spot reclaim), or None.
InterruptionPolicy = Callable[[str], float | None]

#: RunTask: "A total of 8192 characters are allowed for overrides. This limit includes
#: the JSON formatting characters of the override structure." (ECS API reference)
OVERRIDES_LIMIT_CHARS = 8192

STOP_GRACE_S = 10.0  # SIGTERM -> SIGKILL, as ECS's stopTimeout (short locally)


class EcsTaskFailed(Exception):
    def __init__(self, error: str, cause: str):
        self.error, self.cause = error, cause
        super().__init__(f"{error}: {cause[:300]}")


class LocalEcs:
    def __init__(
        self,
        targets: LocalTargets,
        env: dict[str, str],
        logs_dir: Path,
        interruptions: InterruptionPolicy | None = None,
    ):
        self.targets = targets
        self.env = env
        self.logs_dir = logs_dir
        self.interruptions = interruptions
        self.stats = {"started": 0, "interrupted": 0, "failed": 0}
        self.cpu_seconds = 0.0
        self._lock = threading.Lock()
        self._live: dict[int, subprocess.Popen] = {}  # pid -> the task's process

    def wait_stopped(self, timeout: float = STOP_GRACE_S + 1) -> int:
        """After a stop was asked (Ctrl-C), wait for the running tasks to exit (each got
        SIGTERM and checkpoints, as on a Spot reclaim), then kill what is left; how many
        were running."""

        def left() -> list[int]:  # the run_task loops reap their own process (wait4)
            with self._lock:
                return list(self._live)

        n = len(left())
        deadline = time.monotonic() + timeout
        while left() and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in left():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        return n

    def run_task(
        self,
        params: dict,
        *,
        cancelled: threading.Event,
        on_started: Callable[[dict], None] | None = None,
        on_stopped: Callable[[dict], None] | None = None,
    ) -> dict:
        if not isinstance(params, dict) or "TaskDefinition" not in params:
            raise EcsTaskFailed("ECS.InvalidParameterException", "TaskDefinition is required")
        overrides = json.dumps(params.get("Overrides") or {}, separators=(",", ":"))
        if len(overrides) > OVERRIDES_LIMIT_CHARS:
            raise EcsTaskFailed(
                "ECS.InvalidParameterException",
                f"Container Overrides length must be at most {OVERRIDES_LIMIT_CHARS} "
                f"(got {len(overrides)} characters): pass large inputs as an S3 object",
            )
        taskdef = self.targets.logical_id_from_arn(str(params["TaskDefinition"]), "task-definition")
        entry = self.targets.ecs_entry_point(taskdef)
        strategy = params.get("CapacityProviderStrategy") or []
        provider = (
            strategy[0].get("CapacityProvider") if strategy else params.get("LaunchType", "FARGATE")
        )
        task_id = uuid.uuid4().hex
        cluster = str(params.get("Cluster", "default")).split("/")[-1]
        task_arn = f"arn:aws:ecs:{LOCAL_REGION}:{LOCAL_ACCOUNT}:task/{cluster}/{task_id}"
        env = {
            **os.environ,
            **self.env,
            "ECS_CONTAINER_METADATA_URI_V4": "",
            "CLOUDPHOT_TASK_ARN": task_arn,
            "CLOUDPHOT_CAPACITY_PROVIDER": str(provider),
        }
        command: list[str] = []
        for override in (params.get("Overrides") or {}).get("ContainerOverrides") or []:
            for pair in override.get("Environment") or []:
                env[str(pair["Name"])] = str(pair["Value"])
            command = [str(c) for c in override.get("Command") or command]
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.logs_dir / f"{task_id}.log"
        describe = {
            "TaskArn": task_arn,
            "ClusterArn": f"arn:aws:ecs:{LOCAL_REGION}:{LOCAL_ACCOUNT}:cluster/{cluster}",
            "TaskDefinitionArn": str(params["TaskDefinition"]),
            "CapacityProviderName": provider,
            "LaunchType": "FARGATE",
            "Group": params.get("Group", ""),
            "LastStatus": "RUNNING",
            "Containers": [],
            "LogFile": str(log_path),
        }
        if on_started:
            on_started(describe)
        # only Spot capacity is ever reclaimed; on-demand tasks run to the end
        spot = "SPOT" in str(provider).upper()
        delay = self.interruptions(task_arn) if self.interruptions and spot else None
        with self._lock:
            self.stats["started"] += 1
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, str(entry), *command],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=str(self.targets.root),
                start_new_session=True,
            )
            with self._lock:
                self._live[proc.pid] = proc
            started = time.monotonic()
            stop_code, reason = "EssentialContainerExited", "Essential container in task exited"
            sent_term_at: float | None = None
            while True:
                # wait4 on this child alone: its own CPU time, exactly, even with
                # other workers running at the same time
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    rc = os.waitstatus_to_exitcode(status)
                    proc.returncode = rc
                    with self._lock:
                        self._live.pop(proc.pid, None)
                    break
                time.sleep(0.05)
                now = time.monotonic()
                if sent_term_at is None:
                    if cancelled.is_set():
                        stop_code, reason = (
                            "UserInitiated",
                            "Task stopped by Step Functions (timeout or abort)",
                        )
                        sent_term_at = self._term(proc, now)
                    elif delay is not None and now - started >= delay:
                        stop_code, reason = "SpotInterruption", "Your Spot Task was interrupted."
                        with self._lock:
                            self.stats["interrupted"] += 1
                        sent_term_at = self._term(proc, now)
                elif now - sent_term_at > STOP_GRACE_S:
                    proc.kill()
        cpu = usage.ru_utime + usage.ru_stime
        with self._lock:
            self.cpu_seconds += cpu
        tail = log_path.read_bytes()[-4000:].decode("utf-8", "replace")
        prefix = ERROR_PREFIX + " "
        error_line = next((ln for ln in reversed(tail.splitlines()) if ln.startswith(prefix)), "")
        describe.update(
            {
                "LastStatus": "STOPPED",
                "StopCode": stop_code,
                "StoppedReason": reason,
                "Containers": [
                    {
                        "Name": (self.targets.ecs_container_names(taskdef) or ["main"])[0],
                        "ExitCode": rc,
                        "LastStatus": "STOPPED",
                        "Reason": error_line[len(prefix) :][:1000] or None,
                    }
                ],
                "CpuSeconds": round(cpu, 3),
                "RunSeconds": round(time.monotonic() - started, 3),
            }
        )
        if on_stopped:
            on_stopped(describe)
        if rc != 0 or stop_code != "EssentialContainerExited":
            with self._lock:
                self.stats["failed"] += 1
            raise EcsTaskFailed("States.TaskFailed", json.dumps(describe))
        result_line = next(
            (ln for ln in reversed(tail.splitlines()) if ln.startswith(RESULT_PREFIX + " ")), ""
        )
        if result_line:
            try:
                describe["Result"] = json.loads(result_line[len(RESULT_PREFIX) + 1 :])
            except json.JSONDecodeError:
                pass
        return describe

    @staticmethod
    def _term(proc: subprocess.Popen, now: float) -> float:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        return now
