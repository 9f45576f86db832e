"""The local runtime: one machine standing in for S3, DynamoDB, Step Functions, Lambda and ECS.

``cloudphot upload`` writes into the raw bucket folder; the object store emits the
same EventBridge notification S3 would, and the OnObject function (called
in-process) records the event. :meth:`LocalRuntime.run` then drains the work:
it dispatches undispatched events with the same dispatcher the AWS stream uses,
and runs PENDING jobs through the real state machine files. All state is in the
workspace's tables, so a killed runtime resumes where it stopped.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .. import errors
from ..asl import StateMachine
from ..errors import CloudphotError, ConditionFailed, ConfigError, StorageError, TransientError
from ..events import Dispatcher, EventStore, Job, JobState, Registry, load_registry
from ..events.dispatcher import error_name
from ..events.model import utcnow
from ..platform.base import PipelineRunner, RunSummary
from ..settings import Settings
from ..storage import ObjectInfo
from ..storage.objects import put_paths
from ..template import find_project_root
from .dynamodb import DynamoDBIntegration
from .ecs import InterruptionPolicy, LocalEcs
from .executions import ExecutionStore
from .lambdas import LambdaError, LocalLambdas
from .local_objects import LocalObjectStore
from .resources import LocalResources
from .sqlite_tables import SQLiteTables
from .targets import LocalTargets

__all__ = ["LocalRuntime", "QueueStarter"]

#: tries of an event whose dispatch meets a transient error before it is set aside
DISPATCH_ATTEMPTS = 3

os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")  # no X-Ray daemon locally
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")  # no EMF lines in the terminal
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "cloudphot")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")


class QueueStarter:
    """Local JobStarter: jobs stay PENDING; the runtime's loop is the queue."""

    def start(self, job: Job) -> None:
        return None


class LocalRuntime(PipelineRunner):
    """The local pipeline runner: dispatches events and runs jobs through the ASL files."""

    def __init__(
        self,
        settings: Settings,
        *,
        project_root: Path | None = None,
        max_workers: int | None = None,
        interruptions: InterruptionPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.settings = settings
        settings.home.mkdir(parents=True, exist_ok=True)
        self.root = project_root or find_project_root()
        self.targets = LocalTargets.load(self.root, settings)
        self.tables = SQLiteTables(settings.tables_path, settings.tables)
        self.store = EventStore(self.tables)
        # the raw bucket's writes notify, as S3 does through EventBridge
        self._object_created_routes = self.targets.object_created_routes()
        self.objects = LocalObjectStore(settings.buckets_dir, on_created=self.notify_object_created)
        self.executions = ExecutionStore(settings.runtime_path)
        self.lambdas = LocalLambdas(self.targets, settings)
        self.ecs = LocalEcs(
            self.targets, settings.as_env(), settings.logs_dir / "ecs", interruptions
        )
        physical = {phys: logical for logical, phys in settings.tables.items()}
        self.resources = LocalResources(
            self.lambdas,
            self.ecs,
            DynamoDBIntegration(self.tables, physical),
            on_worker_started=self._worker_started,
            on_worker_stopped=self._worker_stopped,
            objects=self.objects,
            executions=self.executions,
        )
        self.max_workers = max_workers or max(1, min(4, os.cpu_count() or 1))
        self.sleep = sleep
        self._machines: dict[str, StateMachine] = {}
        self._registry: Registry | None = None
        self._execution_jobs: dict[str, str] = {}  # execution name -> job id
        self._jobs_lock = threading.Lock()  # read-modify-write of a job's ran_on
        self._stop = threading.Event()  # set on Ctrl-C: running executions end ABORTED

    # registry -------------------------------------------------------------------
    @property
    def registry(self) -> Registry:
        if self._registry is None:
            registry = Registry.from_tables(self.tables)
            if len(registry) == 0:
                registry = self.register()
            self._registry = registry
        return self._registry

    def ensure_registry(self) -> Registry:
        """The task registry, loading the packaged one into an empty tasks table first."""
        return self.registry

    def register(self, path: str | Path | None = None) -> Registry:
        """Load a registry file (default: the packaged tasks.toml) into the tasks table."""
        registry = load_registry(path)
        for t in registry:
            self._check_executor(t.executor.kind, t.executor.name)
        registry.save(self.tables)
        self._registry = registry
        return registry

    def _check_executor(self, kind: str, name: str) -> None:
        resources = self.targets.template.get("Resources", {})
        wanted = {
            "state_machine": "AWS::Serverless::StateMachine",
            "lambda": "AWS::Serverless::Function",
            "ecs": "AWS::ECS::TaskDefinition",
        }[kind]
        if resources.get(name, {}).get("Type") != wanted:
            raise ConfigError(
                f"task executor {kind} {name!r}: template.yaml has no {wanted} named {name!r}"
            )

    # uploads ----------------------------------------------------------------------
    def upload(self, paths: Iterable[str | Path], *, prefix: str = "") -> list[ObjectInfo]:
        """Put files (or every file under directories) into the raw bucket."""
        return put_paths(self.objects, self.settings.bucket("raw"), paths, prefix=prefix)

    def notify_object_created(self, notification: dict) -> None:
        """Deliver an S3 "Object Created" notification, in-process, to the functions the
        template's EventBridge rules route that bucket's events to (OnObject for raw)."""
        detail = notification.get("detail") or {}
        bucket = (detail.get("bucket") or {}).get("name")
        for function in self._object_created_routes.get(str(bucket), ()):
            try:
                self.lambdas.invoke(function, notification)
            except LambdaError as exc:
                key = (detail.get("object") or {}).get("key")
                raise _named(exc)(
                    f"s3://{bucket}/{key} is stored, but {function} could not record its "
                    f"event: {_message(exc)}; once that is fixed, 'cloudphot reconcile' "
                    "records the events of stored objects that have none"
                ) from None

    # draining ------------------------------------------------------------------------
    def recover(self) -> list[str]:
        """Jobs left RUNNING by a runtime that died go back to PENDING (same host, dead pid)."""
        host = socket.gethostname()
        recovered = []
        for job in self.store.jobs(JobState.RUNNING):
            ran = job.ran_on or {}
            if ran.get("host") == host and ran.get("pid") and not _alive(int(ran["pid"])):
                try:
                    self.store.transition(
                        job.job_id,
                        JobState.PENDING,
                        expect=JobState.RUNNING,
                        error="Runtime.Restarted",
                        cause=f"runtime pid {ran['pid']} died while the job ran",
                    )
                    recovered.append(job.job_id)
                except ConditionFailed:
                    pass
        return recovered

    def dispatch_pending_events(self) -> int:
        """Dispatch every undispatched event; a poison one is set aside, the rest proceed.

        A transient error (the tables file locked past its timeout) is retried with
        backoff, then the event is set aside like any other that cannot be dispatched.
        """
        dispatcher = Dispatcher(self.store, self.registry, QueueStarter())
        items = self.store.undispatched()
        for item in items:
            for attempt in range(DISPATCH_ATTEMPTS):
                try:
                    dispatcher.dispatch_item(item)
                    break
                except TransientError as exc:
                    if attempt + 1 == DISPATCH_ATTEMPTS:
                        self.store.set_aside(item, error_name(exc), str(exc))
                    else:
                        self.sleep(2.0**attempt)
        return len(items)

    def dispatch_events(self, event_ids: list[str]) -> list[Job]:
        """Dispatch these events now (e.g. dead letters taken back); their jobs queue."""
        return Dispatcher(self.store, self.registry, QueueStarter()).dispatch_stored(event_ids)

    def spent_usd(self) -> float:
        """What the workspace's jobs so far would have cost on AWS (monitor.cost's ledger)."""
        from ..monitor.cost import load_prices, workspace_ledger

        return workspace_ledger(self, load_prices()).total

    def run(
        self,
        *,
        progress: Callable[[Job], None] | None = None,
        max_rounds: int = 10_000,
        budget_usd: float | None = None,
    ) -> RunSummary:
        """Dispatch and execute until no event or job is left to handle.

        With ``budget_usd`` (or ``$CLOUDPHOT_BUDGET_USD``), no new round of jobs
        starts once the workspace's cost reaches it: the remaining jobs stay PENDING,
        visible in status and the tree, and a later run with a higher budget (or none)
        resumes them.
        """
        if budget_usd is None and os.environ.get("CLOUDPHOT_BUDGET_USD"):
            budget_usd = float(os.environ["CLOUDPHOT_BUDGET_USD"])
        t0, cpu0 = time.monotonic(), self.ecs.cpu_seconds
        started_at = utcnow()
        summary = RunSummary()
        self.recover()
        self._stop.clear()
        try:
            with ThreadPoolExecutor(
                max_workers=self.max_workers, thread_name_prefix="cloudphot-job"
            ) as pool:
                try:
                    self._rounds(pool, summary, progress, max_rounds, budget_usd)
                except KeyboardInterrupt:
                    # Ctrl-C: stop what runs (executions abort, workers get the SIGTERM
                    # a Spot reclaim sends and checkpoint), instead of waiting for them
                    self._stop.set()
                    raise
        finally:
            if self._stop.is_set():
                self.ecs.wait_stopped()
        summary.dead_letters = [
            d["event_id"] for d in self.store.dead_letters() if d["at"] >= started_at
        ]
        summary.seconds = time.monotonic() - t0
        summary.worker_cpu_seconds = self.ecs.cpu_seconds - cpu0
        return summary

    def _rounds(self, pool, summary: RunSummary, progress, max_rounds: int, budget_usd) -> None:
        """Dispatch, then run the pending jobs, round after round, until none is left."""
        for _ in range(max_rounds):
            summary.dispatched_events += self.dispatch_pending_events()
            pending = self.store.jobs(JobState.PENDING)
            if not pending:
                break
            if budget_usd is not None:
                spent = self.spent_usd()
                if spent >= budget_usd:
                    summary.held_by_budget = (
                        f"budget ${budget_usd:.4f} reached (spent ${spent:.4f}): "
                        f"{len(pending)} job(s) held PENDING; run again with a higher "
                        "--budget, or none, to resume"
                    )
                    break
            for job in pool.map(self.execute_job, pending):
                if job is None:
                    continue
                summary.jobs[job.state.value] = summary.jobs.get(job.state.value, 0) + 1
                if job.state in (JobState.FAILED, JobState.ABORTED):
                    summary.failed.append(
                        {"job_id": job.job_id, "task": job.task, "error": job.error}
                    )
                if progress:
                    progress(job)

    def execute_job(self, job: Job) -> Job | None:
        """Run one PENDING job to completion; None if another runner claimed it first."""
        attempt = job.attempts + 1
        name = job.job_id if attempt == 1 else f"{job.job_id}-r{attempt - 1}"
        kind, target = job.executor.get("kind"), str(job.executor.get("name") or "")
        sm_arn = self.targets.state_machine_arn(target) if kind == "state_machine" else target
        exec_arn = self.targets.execution_arn(target, name)
        ran_on = {"runtime": "local", "host": socket.gethostname(), "pid": os.getpid()}
        try:
            self.store.transition(
                job.job_id,
                JobState.RUNNING,
                expect=JobState.PENDING,
                attempts=attempt,
                attempt=attempt,
                execution_id=exec_arn,
                ran_on=ran_on,
                error=None,
                cause=None,
            )
        except ConditionFailed:
            return None
        self._execution_jobs[name] = job.job_id
        cpu0 = time.thread_time()
        try:
            if kind == "state_machine":
                status, output, error, cause = self._run_state_machine(
                    target, name, exec_arn, sm_arn, job
                )
            else:
                raise ConfigError(
                    f"job {job.job_id}: executor kind {kind!r} is not runnable "
                    "locally yet; wrap it in a state machine"
                )
        except ConfigError as exc:
            status, output, error, cause = "FAILED", None, "ConfigError", str(exc)
        if status == "ABORTED" and self._stop.is_set():
            # interrupted here, not aborted by anyone: the next run resumes it
            return self.store.transition(
                job.job_id,
                JobState.PENDING,
                error="Runtime.Interrupted",
                cause="the run was interrupted (Ctrl-C) while the job ran; the next run resumes it",
            )
        state = {"SUCCEEDED": JobState.SUCCEEDED, "ABORTED": JobState.ABORTED}.get(
            status, JobState.FAILED
        )
        with self._jobs_lock:
            current = self.store.job(job.job_id)
        ran = dict(current.ran_on or ran_on)
        ran["cpu_seconds"] = round(ran.get("cpu_seconds", 0) + time.thread_time() - cpu0, 3)
        return self.store.transition(
            job.job_id, state, output=output, error=error, cause=cause, ran_on=ran
        )

    def _machine(self, logical_id: str) -> StateMachine:
        if logical_id not in self._machines:
            self._machines[logical_id] = StateMachine(
                self.targets.state_machine_definition(logical_id)
            )
        return self._machines[logical_id]

    def _run_state_machine(
        self, logical_id: str, name: str, exec_arn: str, sm_arn: str, job: Job
    ) -> tuple[str, Any, str | None, str | None]:
        machine = self._machine(logical_id)
        self.executions.started(exec_arn, name, logical_id, utcnow(), job.input, job.job_id)
        result = machine.execute(
            job.input,
            name=name,
            invoker=self.resources,
            sleep=self.sleep,
            history=lambda ev: self.executions.add_event(exec_arn, ev),
            stop_event=self._stop,
            child_executions=self.resources,
            context={
                "StateMachine": {"Id": sm_arn, "Name": logical_id},
                "Execution": {"Id": exec_arn, "RoleArn": "arn:aws:iam::000000000000:role/local"},
            },
        )
        self.executions.finished(
            exec_arn, result.status, utcnow(), result.output, result.error, result.cause
        )
        return result.status, result.output, result.error, result.cause

    def _worker_started(self, execution_name: str, task: dict) -> None:
        """Record where an ECS worker runs on its job (task ARN, capacity provider)."""
        job_id = self._execution_jobs.get(execution_name, execution_name)
        try:
            self.store.job(job_id)
        except Exception:
            return
        with self._jobs_lock:
            job = self.store.job(job_id)
            ran = dict(job.ran_on or {})
            ran.setdefault("workers", []).append(
                {
                    "task_arn": task["TaskArn"],
                    "capacity_provider": task["CapacityProviderName"],
                    "log": task.get("LogFile"),
                }
            )
            self.tables.update("jobs", job_id, {"ran_on": ran})

    def _worker_stopped(self, execution_name: str, task: dict) -> None:
        """Record how the worker ended: exit code, stop code, CPU; a Spot reclaim stands out."""
        job_id = self._execution_jobs.get(execution_name, execution_name)
        with self._jobs_lock:
            try:
                job = self.store.job(job_id)
            except Exception:
                return
            ran = dict(job.ran_on or {})
            container = (task.get("Containers") or [{}])[0]
            for w in reversed(ran.get("workers") or []):
                if w.get("task_arn") == task["TaskArn"]:
                    w.update(
                        stop_code=task.get("StopCode"),
                        exit_code=container.get("ExitCode"),
                        cpu_seconds=task.get("CpuSeconds"),
                        run_seconds=task.get("RunSeconds"),
                        interrupted=task.get("StopCode") == "SpotInterruption",
                    )
                    break
            ran["worker_cpu_seconds"] = round(
                sum(w.get("cpu_seconds") or 0 for w in ran.get("workers") or []), 3
            )
            self.tables.update("jobs", job_id, {"ran_on": ran})

    def close(self) -> None:
        self.executions.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _named(exc: LambdaError) -> type[CloudphotError]:
    """The cloudphot error a handler raised (by its reported name), else StorageError:
    what the handler could not do outside a state machine surfaces as that error."""
    cls = getattr(errors, exc.error, None)
    if isinstance(cls, type) and issubclass(cls, CloudphotError):
        return cls
    return StorageError


def _message(exc: LambdaError) -> str:
    try:
        return f"{exc.error}: {json.loads(exc.cause)['errorMessage']}"
    except (ValueError, TypeError, KeyError):
        return f"{exc.error}: {exc.cause}"
