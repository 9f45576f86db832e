"""The interpreter: runs a validated definition against an input.

Design:
- Each execution is a ``_Run`` holding the history, injected sleep, invoker and
  the cancellation root (stop_event, execution TimeoutSeconds).
- Map iterations and Parallel branches run in threads; each gets a child
  ``_Scope`` so a failing branch cancels its siblings only.
- Task invocations run in a daemon thread so TimeoutSeconds and stop_event can
  end the state promptly: ``TaskContext.cancelled`` is set, the invoker gets a
  short grace to wind down, then the interpreter moves on.
- Data is never mutated in place: ResultPath copies only the containers on its
  path, so no deep copy of whole documents happens per state.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol, runtime_checkable

from cloudphot.errors import DataError

from .dataflow import JsonataFlow, JsonPathFlow
from .distributed import (
    MAX_CHILD_THREADS,
    ChildExecutions,
    ObjectAccess,
    batch_items,
    new_map_run_arn,
    read_items,
    result_writer_files,
)
from .errors import (
    AslDefinitionError,
    ExecutionAborted,
    SpecRuntimeError,
    StatesError,
    TaskFailed,
)
from .history import History, Lane
from .jsonata_eval import QUERY_ERROR
from .limits import (
    HISTORY_LIMIT_EVENTS,
    PAYLOAD_LIMIT_BYTES,
    HistoryLimitExceeded,
    check_payload,
    payload_bytes,
)
from .validate import load_definition, state_language, validate_machine
from .variables import Context, Scope

__all__ = ["ExecutionResult", "ResourceInvoker", "StateMachine", "TaskContext"]

_INLINE_MAP_LIMIT = 40  # AWS runs at most 40 inline Map iterations concurrently
_POLL = 0.05


@dataclasses.dataclass
class TaskContext:
    """What an invoker knows about the Task it runs (and how to learn it must stop)."""

    execution_name: str
    state_name: str
    retry_count: int
    timeout_seconds: float | None
    heartbeat_seconds: float | None
    deadline: float | None  # time.monotonic() value, or None
    cancelled: threading.Event
    context_object: dict


@runtime_checkable
class ResourceInvoker(Protocol):
    """Runs Task resources; returns the raw result (before ResultSelector)."""

    def invoke(self, resource: str, parameters: Any, ctx: TaskContext) -> Any: ...


@dataclasses.dataclass
class ExecutionResult:
    """Outcome of one execution, like DescribeExecution plus the history."""

    name: str
    status: str  # SUCCEEDED | FAILED | TIMED_OUT | ABORTED
    output: Any
    error: str | None
    cause: str | None
    history: list[dict]
    start_date: _dt.datetime
    stop_date: _dt.datetime


def _run_all(targets: list[Callable[[], None]], name: str) -> None:
    """Run each target on its own daemon thread (named ``name-<i>``) and wait for all."""
    threads = [
        threading.Thread(target=t, daemon=True, name=f"{name}-{i}") for i, t in enumerate(targets)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _iso(ts: _dt.datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


class _Scope:
    """Cancellation node (the root watches stop_event and the execution deadline),
    carrying the variable scope of the machine that runs under it: a Map iteration
    or Parallel branch gets a node of its own with a variable scope inside its
    state's; a plain child node shares its parent's variables."""

    __slots__ = ("deadline", "event", "parent", "stop_event", "variables")

    def __init__(
        self,
        parent: _Scope | None = None,
        stop_event=None,
        deadline=None,
        variables: Scope | None = None,
    ):
        self.parent = parent
        self.event = threading.Event()
        self.stop_event = stop_event
        self.deadline = deadline
        if variables is None:
            variables = parent.variables if parent is not None else Scope()
        self.variables: Scope = variables

    def reason(self) -> str | None:
        scope: _Scope | None = self
        while scope is not None:
            if scope.event.is_set():
                return "CANCELLED"
            if scope.stop_event is not None and scope.stop_event.is_set():
                return "ABORTED"
            if scope.deadline is not None and time.monotonic() >= scope.deadline:
                return "TIMED_OUT"
            scope = scope.parent
        return None

    def check(self) -> None:
        if self.reason():
            raise ExecutionAborted()


def _resource_parts(resource: str) -> tuple[str, str, str]:
    """(resourceType, resource, region) as TaskScheduled reports them."""
    parts = resource.split(":")
    region = parts[3] if len(parts) > 3 and parts[3] else "local"
    if resource.startswith("arn:") and len(parts) >= 7 and parts[2] == "states" and parts[4] == "":
        rest = parts[5:]  # arn:aws:states:::<service>:<api>[.sync|.waitForTaskToken]
        if rest[0] == "aws-sdk" and len(rest) >= 3:
            return f"aws-sdk:{rest[1]}", ":".join(rest[2:]), region
        return rest[0], ":".join(rest[1:]), region
    if len(parts) > 2 and resource.startswith("arn:"):
        return parts[2], resource, region
    return "unknown", resource, region


class StateMachine:
    """A validated ASL definition that can be executed locally.

    Parameters
    ----------
    definition : dict or str
        The ASL document (JSON text or parsed). Validated here; errors raise
        AslDefinitionError naming the state and field.
    cancel_grace_seconds : float
        How long a timed-out or stopped Task's invoker gets to return after
        ``TaskContext.cancelled`` is set before the interpreter moves on.
    strict_spec : bool
        Follow the ASL specification where AWS Step Functions departs from it.
        AWS reports a Choice with no match, a failed intrinsic and a failed
        Parameters path as ``States.Runtime`` (not catchable), where the spec names
        States.NoChoiceMatched / IntrinsicFailure / ParameterPathFailure; and AWS
        rejects ``States.JsonMerge(a, b, true)`` (deep merge), which the spec defines.
        Default False behaves like AWS, so a definition behaves locally as it will in
        the cloud; True gives the spec's behaviour.
    history_limit : int or None
        Events one execution's history may hold before the execution fails, as a
        standard workflow's does on AWS (25,000); None for no limit.
    """

    def __init__(
        self,
        definition: dict | str,
        *,
        cancel_grace_seconds: float = 2.0,
        strict_spec: bool = False,
        history_limit: int | None = HISTORY_LIMIT_EVENTS,
    ):
        try:
            self.definition = load_definition(definition)
            validate_machine(self.definition)
        except RecursionError:
            raise AslDefinitionError(
                "definition: states are nested too deeply (Parallel branches or Map "
                "processors hundreds of levels inside each other); flatten the definition "
                "or split it into child state machines"
            ) from None
        self.language = self.definition.get("QueryLanguage", "JSONPath")
        self.cancel_grace_seconds = float(cancel_grace_seconds)
        self.strict_spec = bool(strict_spec)
        self.history_limit = history_limit

    def execute(
        self,
        input: Any = None,
        *,
        name: str | None = None,
        invoker: ResourceInvoker | None = None,
        history: Callable[[dict], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        context: dict | None = None,
        stop_event: threading.Event | None = None,
        child_executions: ChildExecutions | None = None,
    ) -> ExecutionResult:
        """Run one execution to completion in the calling thread.

        Parameters
        ----------
        input : JSON value
            Execution input; copied once (via JSON) so the caller's object is never shared.
        name : str, optional
            Execution name (``$$.Execution.Name``); a uuid4 when None.
        invoker : ResourceInvoker, optional
            Runs Task states; without one every Task fails with States.TaskFailed.
        history : callable, optional
            Called with each history event as it is recorded (under a lock, in id
            order, possibly from Map/Parallel worker threads; keep it quick).
        sleep : callable
            Used for Wait states and Retry backoff, in seconds. The default
            ``time.sleep`` is replaced by an interruptible wait so stop_event and
            timeouts act promptly; an injected sleep is called as is.
        context : dict, optional
            Merged into the context object, e.g. ``{"StateMachine": {"Id": arn,
            "Name": n}}``; Execution.Id is derived from StateMachine.Id.
        stop_event : threading.Event, optional
            Set from another thread to end the execution as ABORTED; running Tasks
            see ``TaskContext.cancelled`` set.
        child_executions : ChildExecutions, optional
            Records the child executions of Distributed Maps (their histories live
            there, not in this execution's). A Distributed Map's ItemReader and
            ResultWriter reach S3 through the invoker when it implements
            :class:`~cloudphot.asl.distributed.ObjectAccess`.

        Returns
        -------
        ExecutionResult
            ASL failures are reported in the result, never raised. Raises DataError
            for input that is not JSON.
        """
        try:
            text = _dumps(input)
            data = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise DataError(f"execution input is not JSON-serialisable: {exc}") from None
        except RecursionError:
            raise DataError("execution input is nested too deeply to serialise as JSON") from None
        if payload_bytes(text) > PAYLOAD_LIMIT_BYTES:
            raise DataError(
                f"execution input is {payload_bytes(text):,} bytes of JSON; Step Functions' "
                f"StartExecution accepts at most {PAYLOAD_LIMIT_BYTES:,} (256 KiB): pass a "
                "reference to an S3 object instead"
            )
        name = name or str(uuid.uuid4())
        start = _dt.datetime.now(_dt.UTC)
        timeout = self.definition.get("TimeoutSeconds")
        root = _Scope(
            stop_event=stop_event, deadline=time.monotonic() + timeout if timeout else None
        )
        ctx_base = {
            "Execution": {
                "Id": f"arn:aws:states:local:000000000000:execution:local:{name}",
                "Input": data,
                "Name": name,
                "RoleArn": "arn:aws:iam::000000000000:role/local",
                "StartTime": _iso(start),
                "RedriveCount": 0,
            },
            "StateMachine": {
                "Id": "arn:aws:states:local:000000000000:stateMachine:local",
                "Name": "local",
            },
        }
        if context:
            ctx_base = _merge(ctx_base, context)
            sm_id = (context.get("StateMachine") or {}).get("Id")
            if (
                sm_id
                and not (context.get("Execution") or {}).get("Id")
                and ":stateMachine:" in sm_id
            ):
                ctx_base["Execution"]["Id"] = (
                    sm_id.replace(":stateMachine:", ":execution:") + ":" + name
                )
        hist = History(history, self.history_limit)
        run = _Run(self, name, invoker, hist, sleep, ctx_base, root, child_executions)
        return _drive(run, self.definition, data, root, timeout, start)


def _drive(run: _Run, machine: dict, data: Any, root: _Scope, timeout, start) -> ExecutionResult:
    """Run ``machine`` as one execution with its own history (top level or a Map Run child)."""
    hist, lane = run.history, Lane()
    hist.add(
        lane,
        "ExecutionStarted",
        {
            "input": _dumps(data),
            "inputDetails": {"truncated": False},
            "roleArn": run.ctx_base["Execution"].get("RoleArn"),
        },
    )
    status, output, error, cause = "SUCCEEDED", None, None, None
    try:
        output = run.run_machine(machine, data, root, lane, None)
        hist.add(
            lane,
            "ExecutionSucceeded",
            {"output": _dumps(output), "outputDetails": {"truncated": False}},
            final=True,
        )
    except HistoryLimitExceeded as exc:
        root.event.set()  # stop every branch still running
        status, output, error, cause = "FAILED", None, exc.error, exc.cause
        hist.add(lane, "ExecutionFailed", {"error": error, "cause": cause}, final=True)
    except StatesError as err:
        status, error, cause = "FAILED", err.error, err.cause
        if err.error == "States.Runtime" and err.state is not None:
            # Step Functions names the state and its entered event for runtime errors
            cause = (
                f"An error occurred while executing the state '{err.state}' "
                f"(entered at the event id #{err.entered_event_id}). {err.cause}"
            )
        details = {}
        if error is not None:
            details["error"] = error
        if cause:  # AWS leaves an empty cause out of the event and DescribeExecution
            details["cause"] = cause
        else:
            cause = None
        hist.add(lane, "ExecutionFailed", details, final=True)
    except ExecutionAborted:
        reason = root.reason()
        if reason == "TIMED_OUT":
            status, error, cause = (
                "TIMED_OUT",
                "States.Timeout",
                f"The execution exceeded its TimeoutSeconds of {timeout}",
            )
            hist.add(lane, "ExecutionTimedOut", {"error": error, "cause": cause}, final=True)
        else:
            status = "ABORTED"
            hist.add(lane, "ExecutionAborted", {}, final=True)
    return ExecutionResult(
        name=run.name,
        status=status,
        output=output,
        error=error,
        cause=cause,
        history=list(hist.events),
        start_date=start,
        stop_date=_dt.datetime.now(_dt.UTC),
    )


class _Run:
    """State of one execution; methods are the state handlers.

    What a state's fields mean is the business of its query language's flow
    (:mod:`cloudphot.asl.dataflow`); this class runs states, invokes tasks, runs
    branches and iterations, retries, catches and records the history.
    """

    def __init__(
        self,
        sm: StateMachine,
        name: str,
        invoker,
        history: History,
        sleep,
        ctx_base: dict,
        root: _Scope,
        children: ChildExecutions | None = None,
    ):
        self.children = children
        self.sm = sm
        self.name = name
        self.invoker = invoker
        self.history = history
        self.sleep = sleep
        self.ctx_base = ctx_base
        self.root = root
        self.flows = {
            "JSONPath": JsonPathFlow(sm.strict_spec),
            "JSONata": JsonataFlow(sm.strict_spec),
        }

    # ----------------------------------------------------------- helpers
    def flow(self, state: dict):
        return self.flows[state_language(state, self.sm.language)]

    def context(
        self,
        state_name: str,
        entered: str,
        retry: int | None,
        map_item,
        variables: Scope,
        event_id: int | None = None,
    ) -> Context:
        """The context object; ``$$.State.RetryCount`` exists in Task states only (AWS)."""
        ctx = Context(self.ctx_base, variables=variables, entered_event_id=event_id)
        ctx["State"] = {"EnteredTime": entered, "Name": state_name}
        if retry is not None:
            ctx["State"]["RetryCount"] = retry
        if map_item is not None:
            ctx["Map"] = {"Item": {"Index": map_item[0], "Value": map_item[1]}}
        return ctx

    def wait(self, seconds: float, scope: _Scope) -> None:
        """Sleep through the injected sleep; the default one is made interruptible."""
        if seconds <= 0:
            scope.check()
            return
        if self.sleep is time.sleep:
            end = time.monotonic() + seconds
            while True:
                scope.check()
                left = end - time.monotonic()
                if left <= 0:
                    return
                time.sleep(min(_POLL, left))
        else:
            self.sleep(seconds)
            scope.check()

    # ----------------------------------------------------------- the loop
    def run_machine(self, machine: dict, data: Any, scope: _Scope, lane: Lane, map_item) -> Any:
        variables = scope.variables
        states = machine["States"]
        name = machine["StartAt"]
        while True:
            scope.check()
            state = states[name]
            typ = state["Type"]
            entered = _dt.datetime.now(_dt.UTC)
            event = self.history.add(
                lane,
                f"{typ}StateEntered",
                {"name": name, "input": _dumps(data), "inputDetails": {"truncated": False}},
            )
            try:
                output, nxt, assigned = self.run_state(
                    name, state, data, scope, lane, map_item, (_iso(entered), event["id"])
                )
                out_text = _dumps(output)
                check_payload(output, name, text=out_text)
                texts = variables.assign(assigned, name) if assigned is not None else None
            except StatesError as err:
                if err.state is None:
                    self._locate(lane, err, name, event["id"])
                catcher = _find_catcher(state.get("Catch", ()), err)
                if catcher is None:
                    raise
                error_output = {"Error": err.error, "Cause": err.cause}
                ctx = self.context(name, _iso(entered), None, map_item, variables, event["id"])
                output, assigned = self.flow(state).catch(catcher, data, error_output, ctx)
                texts = variables.assign(assigned, name) if assigned is not None else None
                nxt = catcher["Next"]
                out_text = _dumps(output)
            if typ not in ("Fail",):
                details = {"name": name, "output": out_text, "outputDetails": {"truncated": False}}
                if texts is not None:
                    details["assignedVariables"] = texts
                    details["assignedVariablesDetails"] = {"truncated": False}
                self.history.add(lane, f"{typ}StateExited", details)
            if nxt is None:
                return output
            data, name = output, nxt

    def _locate(self, lane: Lane, err: StatesError, name: str, event_id: int) -> None:
        """Tie an error to the state it happened in (once): AWS's names for spec
        errors; a failed JSONata query gets its ``EvaluationFailed`` event."""
        err.state, err.entered_event_id = name, event_id
        if isinstance(err, SpecRuntimeError) and not self.sm.strict_spec:
            err.error = "States.Runtime"
        if err.error == QUERY_ERROR:
            self._evaluation_failed(lane, err)

    def _evaluation_failed(self, lane: Lane, err: StatesError) -> None:
        """A JSONata state's query failed: AWS prefixes the cause like a runtime
        error's and records an ``EvaluationFailed`` event (recorded)."""
        err.cause = (
            f"An error occurred while executing the state '{err.state}' "
            f"(entered at the event id #{err.entered_event_id}). {err.cause}"
        )
        details = {"error": err.error, "cause": err.cause, "state": err.state}
        if err.location:
            details["location"] = err.location
        self.history.add(lane, "EvaluationFailed", details)

    def run_state(self, name, state, data, scope, lane, map_item, entered):
        """(output, next state, values to assign) of one state; ``entered`` is the
        entered time and event id."""
        typ = state["Type"]
        if typ in ("Task", "Parallel", "Map"):
            return self.with_retry(name, state, data, scope, lane, map_item, entered)
        flow = self.flow(state)
        ctx = self.context(name, entered[0], None, map_item, scope.variables, entered[1])
        nxt = state.get("Next")
        if typ == "Pass":
            output, assigned = flow.pass_state(state, data, ctx, partial(check_payload, who=name))
            return output, nxt, assigned
        if typ == "Choice":
            return flow.choice(name, state, data, ctx)
        if typ == "Wait":
            eff, output, assigned = flow.passthrough(state, data, ctx)
            self.wait(flow.wait_seconds(state, eff, ctx), scope)
            return output, nxt, assigned
        if typ == "Succeed":
            _eff, output, _ = flow.passthrough(state, data, ctx)
            return output, None, None
        if typ == "Fail":
            error, cause = flow.fail(state, data, ctx)
            raise StatesError(error, cause)
        raise AssertionError(typ)  # validated at construction

    # ----------------------------------------------------------- retry
    def with_retry(self, name, state, data, scope, lane, map_item, entered):
        retriers = state.get("Retry", ())
        counts = [0] * len(retriers)
        retry = 0
        while True:
            retry_count = retry if state["Type"] == "Task" else None
            ctx = self.context(name, entered[0], retry_count, map_item, scope.variables, entered[1])
            try:
                output, assigned = self.attempt(name, state, data, scope, lane, ctx)
                return output, state.get("Next"), assigned
            except StatesError as err:
                idx = _find_retrier(retriers, err)
                if idx is None:
                    raise
                r = retriers[idx]
                if counts[idx] >= r.get("MaxAttempts", 3):
                    raise
                delay = r.get("IntervalSeconds", 1) * r.get("BackoffRate", 2.0) ** counts[idx]
                if "MaxDelaySeconds" in r:
                    delay = min(delay, r["MaxDelaySeconds"])
                if r.get("JitterStrategy", "NONE") == "FULL":
                    delay = random.uniform(0, delay)
                counts[idx] += 1
                retry += 1
                self.wait(delay, scope)

    def attempt(self, name, state, data, scope, lane, ctx):
        """One try of a Task, Parallel or Map: (output, values to assign)."""
        typ = state["Type"]
        flow = self.flow(state)
        eff = flow.state_input(state, data, ctx)
        if typ == "Task":
            params = flow.arguments(state, eff, ctx)
            check_payload(params, name)
            # TimeoutSecondsPath/HeartbeatSecondsPath select from the state input, not
            # from the Parameters built from it (the Step Functions developer guide)
            result = self.invoke(name, state, params, data, scope, lane, ctx, timing=eff)
        elif typ == "Parallel":
            params = flow.arguments(state, eff, ctx)
            check_payload(params, name)
            result = self.parallel(name, state, params, scope, lane, ctx.variables)
        else:
            result = self.map(name, state, eff, scope, lane, ctx)
        return flow.finish(state, data, eff, result, ctx)

    # ----------------------------------------------------------- Task
    def invoke(self, name, state, params, data, scope: _Scope, lane, ctx, *, timing=None):
        resource = state["Resource"]
        rtype, rname, region = _resource_parts(resource)
        flow = self.flow(state)
        timing = params if timing is None else timing
        timeout = flow.task_number(state, "TimeoutSeconds", timing, data, ctx)
        heartbeat = flow.task_number(state, "HeartbeatSeconds", timing, data, ctx)
        details: dict[str, Any] = {
            "resourceType": rtype,
            "resource": rname,
            "region": region,
            "parameters": _dumps(params),
        }
        if timeout is not None:
            details["timeoutInSeconds"] = int(timeout)
        if heartbeat is not None:
            details["heartbeatInSeconds"] = int(heartbeat)
        self.history.add(lane, "TaskScheduled", details)
        deadline = time.monotonic() + timeout if timeout else None
        tctx = TaskContext(
            execution_name=self.name,
            state_name=name,
            retry_count=ctx["State"]["RetryCount"],
            timeout_seconds=timeout,
            heartbeat_seconds=heartbeat,
            deadline=deadline,
            cancelled=threading.Event(),
            context_object=dict(ctx),
        )
        self.history.add(lane, "TaskStarted", {"resourceType": rtype, "resource": rname})
        if self.invoker is None:
            return self._task_failed(
                lane,
                rtype,
                rname,
                "States.TaskFailed",
                f"No resource invoker is configured to run {resource}",
            )
        box: dict[str, Any] = {}
        done = threading.Event()
        invoker = self.invoker

        def target():
            try:
                box["result"] = invoker.invoke(resource, json.loads(_dumps(params)), tctx)
            except BaseException as exc:
                box["exc"] = exc
            finally:
                done.set()

        threading.Thread(target=target, name=f"asl-task-{self.name}-{name}", daemon=True).start()
        while not done.wait(
            _POLL if deadline is None else max(0.0, min(_POLL, deadline - time.monotonic()))
        ):
            if deadline is not None and time.monotonic() >= deadline:
                tctx.cancelled.set()
                done.wait(self.sm.cancel_grace_seconds)
                self.history.add(
                    lane,
                    "TaskTimedOut",
                    {"resourceType": rtype, "resource": rname, "error": "States.Timeout"},
                )
                raise StatesError("States.Timeout", "")  # AWS gives no cause
            if scope.reason():
                tctx.cancelled.set()
                done.wait(self.sm.cancel_grace_seconds)
                raise ExecutionAborted()
        if "exc" in box:
            exc = box["exc"]
            if isinstance(exc, TaskFailed):
                return self._task_failed(lane, rtype, rname, exc.error, exc.cause)
            return self._task_failed(lane, rtype, rname, "States.TaskFailed", str(exc))
        try:
            result_text = _dumps(box.get("result"))
            result = json.loads(result_text)
        except (TypeError, ValueError, RecursionError) as exc:
            return self._task_failed(
                lane,
                rtype,
                rname,
                "States.TaskFailed",
                f"Task result is not JSON-serialisable: {exc}",
            )
        try:  # AWS names the integration ('lambda') or the bare resource ARN
            who = rtype if resource.startswith("arn:aws:states:::") else resource
            check_payload(result, who, text=result_text, catchable_by_all=True)
        except StatesError as err:
            return self._task_failed(lane, rtype, rname, err.error, err.cause, err)
        self.history.add(
            lane,
            "TaskSucceeded",
            {
                "resourceType": rtype,
                "resource": rname,
                "output": result_text,
                "outputDetails": {"truncated": False},
            },
        )
        return result

    def _task_failed(self, lane, rtype, rname, error, cause, err: StatesError | None = None):
        self.history.add(
            lane,
            "TaskFailed",
            {"resourceType": rtype, "resource": rname, "error": error, "cause": cause},
        )
        raise err or StatesError(error, cause)

    # ----------------------------------------------------------- Parallel
    def parallel(self, name, state, data, scope: _Scope, lane: Lane, variables: Scope):
        """Each branch in a variable scope of its own inside the Parallel's."""
        self.history.add(lane, "ParallelStateStarted", None)
        child = _Scope(scope)
        branches = state["Branches"]
        results: list[Any] = [None] * len(branches)
        failures: list[tuple[int, StatesError]] = []
        crashes: list[BaseException] = []
        lock = threading.Lock()

        def run_branch(i):
            try:
                own = _Scope(child, variables=Scope(variables))
                results[i] = self.run_machine(branches[i], data, own, Lane(lane.last), None)
            except StatesError as err:
                with lock:
                    failures.append((i, err))
                child.event.set()
            except ExecutionAborted:
                child.event.set()
            except BaseException as exc:
                crashes.append(exc)
                child.event.set()

        _run_all(
            [partial(run_branch, i) for i in range(len(branches))], f"asl-branch-{self.name}-{name}"
        )
        if crashes:
            raise crashes[0]
        if failures:
            err = failures[0][1]
            self.history.add(lane, "ParallelStateFailed", {"error": err.error, "cause": err.cause})
            raise err
        if scope.reason():
            self.history.add(lane, "ParallelStateAborted", None)
            raise ExecutionAborted()
        self.history.add(lane, "ParallelStateSucceeded", None)
        return results

    # ----------------------------------------------------------- Map
    def map(self, name, state, eff, scope: _Scope, lane: Lane, ctx):
        proc = state.get("ItemProcessor") or state["Iterator"]
        if (proc.get("ProcessorConfig") or {}).get("Mode") == "DISTRIBUTED":
            return self.distributed_map(name, state, eff, scope, lane, ctx, proc)
        flow = self.flow(state)
        variables = ctx.variables
        try:
            items = flow.map_items(state, eff, ctx)
            max_conc, tol_count, tol_pct = self._map_limits(flow, state, eff, ctx)
        except StatesError as err:  # recorded: EvaluationFailed, then MapStateFailed
            self._locate(lane, err, name, ctx.entered_event_id)
            self.history.add(lane, "MapStateFailed", None)
            raise
        n = len(items)
        self.history.add(lane, "MapStateStarted", {"length": n})
        child = _Scope(scope)
        results: list[Any] = [None] * n
        failures: list[tuple[int, StatesError]] = []
        lock = threading.Lock()
        entered = ctx["State"]["EnteredTime"]

        def run_item(i: int) -> None:
            ilane = Lane(lane.last)
            self.history.add(ilane, "MapIterationStarted", {"name": name, "index": i})
            item_ctx = self.context(name, entered, None, (i, items[i]), variables)
            try:
                item = flow.item_input(state, eff, items[i], item_ctx)
                own = _Scope(child, variables=Scope(variables))
                results[i] = self.run_machine(proc, item, own, ilane, (i, items[i]))
                self.history.add(ilane, "MapIterationSucceeded", {"name": name, "index": i})
            except StatesError as err:
                self.history.add(ilane, "MapIterationFailed", {"name": name, "index": i})
                results[i] = {"Error": err.error, "Cause": err.cause}
                with lock:
                    failures.append((i, err))
                    stop = _over_threshold(len(failures), n, tol_count, tol_pct)
                if stop:
                    child.event.set()
            except ExecutionAborted:
                self.history.add(ilane, "MapIterationAborted", {"name": name, "index": i})

        workers = min(n, max_conc if max_conc else _INLINE_MAP_LIMIT)
        _pool(n, workers, run_item, child, f"asl-map-{self.name}-{name}")
        if _over_threshold(len(failures), n, tol_count, tol_pct):
            if tol_count is not None or tol_pct is not None:
                failure = _threshold_error()
            else:
                failure = min(failures, key=lambda f: f[0])[1]
            self.history.add(lane, "MapStateFailed", None)
            raise failure
        if scope.reason():
            self.history.add(lane, "MapStateAborted", None)
            raise ExecutionAborted()
        self.history.add(lane, "MapStateSucceeded", None)
        return results

    @staticmethod
    def _map_limits(flow, state, eff, ctx):
        """(MaxConcurrency, ToleratedFailureCount, ToleratedFailurePercentage) with AWS's checks."""
        max_conc = flow.count(state, "MaxConcurrency", eff, ctx, 0)
        tol_count = flow.count(state, "ToleratedFailureCount", eff, ctx)
        tol_pct = flow.count(state, "ToleratedFailurePercentage", eff, ctx)
        if max_conc is not None and max_conc < 0:
            raise StatesError("States.Runtime", "MaxConcurrency cannot be negative.")
        if tol_count is not None and tol_count < 0:
            raise StatesError("States.Runtime", "ToleratedFailureCount cannot be negative.")
        if tol_pct is not None and not 0 <= tol_pct <= 100:
            raise StatesError(
                "States.Runtime", "ToleratedFailurePercentage must be between 0 and 100."
            )
        return max_conc, tol_count, tol_pct

    # ----------------------------------------------------------- Distributed Map
    def distributed_map(self, name, state, eff, scope: _Scope, lane: Lane, ctx, proc):
        """Items (from ItemReader or ItemsPath/Items) run as child executions; see distributed.py."""
        flow = self.flow(state)
        reader = state.get("ItemReader")
        items = None if reader else flow.map_items(state, eff, ctx)
        max_conc, tol_count, tol_pct = self._map_limits(flow, state, eff, ctx)
        max_items = 0
        if reader is not None:
            max_items = flow.count(reader.get("ReaderConfig") or {}, "MaxItems", eff, ctx, 0)
        self.history.add(lane, "MapStateStarted", {"length": len(items) if items else 0})
        sm_arn = self.ctx_base["StateMachine"]["Id"]
        run_arn = new_map_run_arn(sm_arn, state.get("Label"))
        self.history.add(lane, "MapRunStarted", {"mapRunArn": run_arn})
        try:
            if reader is not None:
                if max_items < 0:
                    raise StatesError("States.ItemReaderFailed", "field MaxItems must be positive")
                params = flow.io_arguments(reader, eff, ctx, "Parameters")
                access = self.invoker if isinstance(self.invoker, ObjectAccess) else None
                items = read_items(access, reader, params, max_items, flow.io_field())
            inputs = self._child_inputs(flow, name, state, eff, ctx, items)
            outputs, rows, nfail = self._run_children(
                name, proc, inputs, run_arn, scope, max_conc, tol_count, tol_pct
            )
            if _over_threshold(nfail, len(inputs), tol_count, tol_pct):
                first = next(r for r in rows if r["Status"] != "SUCCEEDED")
                raise _threshold_error((first.get("Error"), first.get("Cause")))
            result: Any = outputs
            if "ResultWriter" in state:
                result = self._write_results(flow, state["ResultWriter"], eff, ctx, run_arn, rows)
        except StatesError as err:
            details = {"error": err.error}
            if err.cause:
                details["cause"] = err.cause
            self.history.add(lane, "MapRunFailed", details)
            self.history.add(lane, "MapStateFailed", None)
            raise
        if scope.reason():
            self.history.add(lane, "MapRunAborted", None)
            self.history.add(lane, "MapStateAborted", None)
            raise ExecutionAborted()
        self.history.add(lane, "MapRunSucceeded", None)
        self.history.add(lane, "MapStateSucceeded", None)
        return result

    def _child_inputs(self, flow, name, state, eff, ctx, items) -> list:
        entered = ctx["State"]["EnteredTime"]
        inputs = [
            flow.item_input(
                state, eff, item, self.context(name, entered, None, (i, item), ctx.variables)
            )
            for i, item in enumerate(items)
        ]
        batcher = state.get("ItemBatcher")
        if batcher is None:
            return inputs
        batch_input = None
        if "BatchInput" in batcher:
            batch_input = flow.io_arguments(batcher, eff, ctx, "BatchInput")
        limits = {}
        for field in ("MaxItemsPerBatch", "MaxInputBytesPerBatch"):
            value = flow.count(batcher, field, eff, ctx)
            if value is not None:
                limits[field] = value
        return batch_items(inputs, limits, batch_input)

    def _run_children(self, name, proc, inputs, run_arn, scope, max_conc, tol_count, tol_pct):
        """Each input as a child execution with its own history (and no outer
        variables: a Distributed Map's children cannot read them); returns outputs in
        order, ResultWriter rows, and the number of failed children."""
        machine = {"StartAt": proc["StartAt"], "States": proc["States"]}
        n = len(inputs)
        outputs: list[Any] = [None] * n
        rows: list[dict] = []
        failed = [0]
        lock = threading.Lock()
        child_scope = _Scope(scope)
        exec_prefix = run_arn.rsplit(":", 1)[0].replace(":mapRun:", ":execution:")
        sm_arn = run_arn.rsplit(":", 1)[0].replace(":mapRun:", ":stateMachine:")

        def run_child(i: int) -> None:
            cid = uuid.uuid4().hex
            arn = f"{exec_prefix}:{cid}"
            start = _dt.datetime.now(_dt.UTC)
            sink = None
            if self.children is not None:
                self.children.child_started(arn, cid, self.ctx_base["Execution"]["Id"], inputs[i])
                sink = partial(self.children.child_event, arn)
            ctx_base = {
                "Execution": {
                    "Id": arn,
                    "Input": inputs[i],
                    "Name": cid,
                    "RoleArn": self.ctx_base["Execution"].get("RoleArn"),
                    "StartTime": _iso(start),
                    "RedriveCount": 0,
                },
                "StateMachine": {"Id": sm_arn, "Name": sm_arn.rsplit(":", 1)[-1]},
            }
            hist = History(sink, self.sm.history_limit)
            run = _Run(self.sm, cid, self.invoker, hist, self.sleep, ctx_base, child_scope)
            run.children = self.children
            own = _Scope(child_scope, variables=Scope())  # no outer variables in children
            res = _drive(run, machine, inputs[i], own, None, start)
            if self.children is not None:
                self.children.child_finished(arn, res.status, res.output, res.error, res.cause)
            row = {
                "ExecutionArn": arn,
                "Input": _dumps(inputs[i]),
                "InputDetails": {"Included": True},
                "Name": cid,
                "RedriveCount": 0,
                "StartDate": _iso(start),
                "StateMachineArn": sm_arn,
                "Status": res.status,
                "StopDate": _iso(res.stop_date),
            }
            if res.status == "SUCCEEDED":
                outputs[i] = res.output
                row.update(Output=_dumps(res.output), OutputDetails={"Included": True})
            else:
                outputs[i] = {"Error": res.error, "Cause": res.cause}
                row.update(Error=res.error, Cause=res.cause)
            with lock:
                rows.append(row)
                if res.status != "SUCCEEDED":
                    failed[0] += 1
                    if _over_threshold(failed[0], n, tol_count, tol_pct):
                        child_scope.event.set()

        workers = min(n, max_conc or MAX_CHILD_THREADS, MAX_CHILD_THREADS)
        _pool(n, workers, run_child, child_scope, f"asl-maprun-{self.name}-{name}")
        rows.sort(key=lambda r: r["StartDate"])
        return outputs, rows, failed[0]

    def _write_results(self, flow, writer: dict, eff, ctx, run_arn: str, rows: list[dict]) -> dict:
        params = flow.io_arguments(writer, eff, ctx, "Parameters")
        access = self.invoker if isinstance(self.invoker, ObjectAccess) else None
        bucket = params.get("Bucket") if isinstance(params, dict) else None
        if access is None or not isinstance(bucket, str) or not bucket:
            raise StatesError(
                "States.ResultWriterFailed",
                f"ResultWriter needs {flow.io_field()}.Bucket and an object store to write to",
            )
        files, manifest = result_writer_files(bucket, str(params.get("Prefix", "")), run_arn, rows)
        try:
            for key, body in files.items():
                access.s3_put_object(bucket, key, body)
        except Exception as exc:
            raise StatesError("States.ResultWriterFailed", f"{type(exc).__name__}: {exc}") from None
        return {"MapRunArn": run_arn, "ResultWriterDetails": {"Bucket": bucket, "Key": manifest}}


def _over_threshold(nfail: int, n: int, tol_count, tol_pct) -> bool:
    """Map failure tolerance: with no threshold any failure fails the Map; with both,
    the Map fails only when both are exceeded (developer guide, failure thresholds)."""
    if tol_count is None and tol_pct is None:
        return nfail > 0
    over_count = tol_count is not None and nfail > tol_count
    over_pct = tol_pct is not None and n > 0 and 100.0 * nfail / n > tol_pct
    if tol_count is not None and tol_pct is not None:
        return over_count and over_pct
    return bool(over_count or over_pct)


def _threshold_error(first: tuple[str | None, str | None] | None = None) -> StatesError:
    """The Map failed; a Distributed Map's cause also names its first failed child, so
    the reason a field failed is not lost behind the threshold."""
    cause = "The specified tolerated failure threshold was exceeded"
    if first is not None:
        cause += f"; first failed item: {first[0]}: {first[1] or ''}".rstrip(": ")
    return StatesError("States.ExceedToleratedFailureThreshold", cause)


def _pool(n: int, workers: int, run_one: Callable[[int], None], scope: _Scope, name: str):
    """Run ``run_one(i)`` for i in range(n) on ``workers`` threads until ``scope`` stops;
    an interpreter crash (or the history quota) stops the rest and is re-raised."""
    cursor = iter(range(n))
    lock = threading.Lock()
    crashes: list[BaseException] = []

    def worker() -> None:
        while not scope.reason():
            with lock:
                i = next(cursor, None)
            if i is None:
                return
            try:
                run_one(i)
            except BaseException as exc:
                crashes.append(exc)
                scope.event.set()
                return

    if workers <= 1:
        worker()
    else:
        _run_all([worker] * workers, name)
    if crashes:
        raise crashes[0]


def _matches(error_equals: list, err: StatesError) -> bool:
    """Does a Retrier/Catcher's ErrorEquals match ``err``?

    As on AWS (developer guide, "Handling errors"; recorded executions in
    docs/asl-conformance.md): States.Runtime is never caught or retried, not even by
    name; States.DataLimitExceeded is matched by name, and by States.ALL only when a
    connector's result was over the limit; States.TaskFailed is a wildcard for every
    error except States.Timeout and those two.
    """
    error = err.error
    if error == "States.Runtime":
        return False
    if error in error_equals:
        return True
    if error == "States.DataLimitExceeded":
        return err.catchable_by_all and "States.ALL" in error_equals
    if "States.ALL" in error_equals:
        return True
    return "States.TaskFailed" in error_equals and error != "States.Timeout"


def _find_retrier(retriers, err: StatesError) -> int | None:
    for i, r in enumerate(retriers):
        if _matches(r["ErrorEquals"], err):
            return i
    return None


def _find_catcher(catchers, err: StatesError) -> dict | None:
    for c in catchers:
        if _matches(c["ErrorEquals"], err):
            return c
    return None
