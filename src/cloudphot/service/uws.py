"""TAP ``/async``: a UWS 1.1 job list (create, run, abort, limits, results, errors, owners).

:class:`AsyncJobs` is the lifecycle, independent of HTTP and of where jobs run: a
job is created PENDING (or QUEUED with ``PHASE=RUN``), a runner executes
:meth:`AsyncJobs.run_job` (locally :class:`LocalRunner`'s worker threads; on AWS a
Step Functions execution whose Lambda calls the same method), and the result is
written to the object store under ``service/tap-jobs/<job id>/``. Phase changes are
conditional, so ABORT racing a worker ends in one phase. :class:`UwsEndpoints` is the
HTTP side. UWS documents are written with vo-models' UWS models.

Ownership: a job created by an authenticated user is that user's (others get 403);
an anonymous job belongs to nobody and its unguessable URL is its key. Bounded: at
most ``Limits.async_queue`` jobs wait at once (``async_queue_per_user`` per owner);
beyond that PHASE=RUN is refused with 503 and the job stays PENDING.
"""

from __future__ import annotations

import io
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import anyio
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic_xml import element
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from vo_models.uws import (
    ErrorSummary,
    Jobs,
    JobSummary,
    Parameter,
    Parameters,
    ResultReference,
    Results,
    ShortJobDescription,
)
from vo_models.uws.types import ErrorType, ExecutionPhase

from ..errors import ConditionFailed, DataError, ObjectNotFound, QueryRefused
from ..storage.objects import ObjectStore
from . import formats
from .accounts import Unauthorized
from .jobs import ACTIVE, JobStore, NoSuchJob, TapJob, new_job_id, now_iso, parse_time
from .params import Params, read_params
from .queries import Busy, Limits, QueryService
from .tap import error_response, query_args, run_tap
from .uploads import read_uploads

__all__ = ["AsyncJobs", "Forbidden", "LocalRunner", "QueueFull", "UwsEndpoints"]

log = logging.getLogger(__name__)
PREFIX = "service/tap-jobs"
#: job parameters kept and shown (lower-case UWS ids)
TAP_PARAMS = (
    "request",
    "lang",
    "query",
    "maxrec",
    "format",
    "responseformat",
    "upload",
    "runid",
    "mydb",
)


class Forbidden(QueryRefused):
    """The job belongs to someone else."""


class QueueFull(QueryRefused):
    """Too many jobs are waiting already."""


class TapParameters(Parameters):
    request: Parameter | None = element(tag="parameter", default=None)
    lang: Parameter | None = element(tag="parameter", default=None)
    query: Parameter | None = element(tag="parameter", default=None)
    maxrec: Parameter | None = element(tag="parameter", default=None)
    format: Parameter | None = element(tag="parameter", default=None)
    responseformat: Parameter | None = element(tag="parameter", default=None)
    upload: Parameter | None = element(tag="parameter", default=None)
    mydb: Parameter | None = element(tag="parameter", default=None)


def _xml(model) -> bytes:
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + model.to_xml(
        pretty_print=True, encoding="UTF-8"
    )


def _time(value: str | None):
    return None if value is None else parse_time(value)


class AsyncJobs:
    """The UWS job lifecycle over a job store, an object store and the query service."""

    def __init__(
        self,
        store: JobStore,
        objects: ObjectStore,
        bucket: str,
        queries: QueryService,
        *,
        retention_s: float = 7 * 86400,
        max_retention_s: float = 30 * 86400,
    ):
        self.store, self.objects, self.bucket = store, objects, bucket
        self.queries = queries
        self.limits: Limits = queries.limits
        self.retention_s, self.max_retention_s = retention_s, max_retention_s
        self.runner: Any = None
        #: personal tables (mydb.MyDb) the jobs' owners may read and fill, or None
        self.mydb: Any = None
        #: job id -> engine running it (ABORT interrupts it)
        self._running: dict[str, Any] = {}
        self._changed = threading.Condition()

    # ------------------------------------------------------------------ lifecycle
    def create(
        self, owner: str | None, params: dict[str, str], uploads: dict[str, pa.Table]
    ) -> TapJob:
        job = TapJob(
            job_id=new_job_id(),
            owner=owner,
            phase="PENDING",
            created=now_iso(),
            execution_duration=int(self.limits.async_timeout_s),
            destruction=now_iso(self.retention_s),
            parameters={k: v for k, v in params.items() if k in TAP_PARAMS},
            run_id=params.get("runid"),
        )
        for name, table in uploads.items():
            key = f"{PREFIX}/{job.job_id}/upload/{name}.parquet"
            buf = io.BytesIO()
            pq.write_table(table, buf)
            self.objects.put_bytes(self.bucket, key, buf.getvalue())
            job.uploads[name] = key
        self.store.create(job)
        return job

    def get(self, job_id: str, owner: str | None) -> TapJob:
        try:
            job = self.store.get(job_id)
        except NoSuchJob:
            raise NoSuchJob(f"no job {job_id!r} (it may have been destroyed)") from None
        if job.owner is not None and job.owner != owner:
            raise Forbidden(f"job {job_id} belongs to another user")
        return job

    def run(self, job: TapJob) -> TapJob:
        """PHASE=RUN: queue a PENDING job (a job already running or done is left alone)."""
        if job.phase != "PENDING":
            return job
        waiting = self.store.count("QUEUED", any_owner=True)
        mine = self.store.count("QUEUED", job.owner)
        if waiting >= self.limits.async_queue or mine >= self.limits.async_queue_per_user:
            raise QueueFull(
                f"query refused: the async queue is full ({waiting} jobs waiting, {mine} "
                f"of them yours); the job stays PENDING: run it again later"
            )
        try:
            job = self.store.update(job.job_id, {"phase": "QUEUED"}, expect="PENDING")
        except ConditionFailed:
            return self.store.get(job.job_id)
        self._notify()
        self.runner.submit(job.job_id)
        return job

    def abort(self, job: TapJob) -> TapJob:
        for phase in ("PENDING", "QUEUED", "EXECUTING"):
            if job.phase != phase:
                continue
            try:
                job = self.store.update(
                    job.job_id, {"phase": "ABORTED", "ended": now_iso()}, expect=phase
                )
            except ConditionFailed:
                job = self.store.get(job.job_id)
                continue
            eng = self._running.get(job.job_id)
            if eng is not None and hasattr(eng, "interrupt"):
                eng.interrupt()
            if hasattr(self.runner, "stop_job"):
                self.runner.stop_job(job)
            self._notify()
            break
        return job

    def delete(self, job: TapJob) -> None:
        self.abort(job)
        for info in list(self.objects.list(self.bucket, f"{PREFIX}/{job.job_id}/")):
            self.objects.delete(self.bucket, info.key)
        self.store.delete(job.job_id)
        self._notify()

    def set_duration(self, job: TapJob, seconds: int) -> TapJob:
        if job.phase != "PENDING":
            raise QueryRefused(f"job {job.job_id} is {job.phase}: EXECUTIONDURATION is fixed now")
        hard = int(self.limits.async_timeout_s)
        seconds = hard if seconds <= 0 else min(seconds, hard)
        return self.store.update(job.job_id, {"execution_duration": seconds}, expect="PENDING")

    def set_destruction(self, job: TapJob, when: str) -> TapJob:
        try:
            t = parse_time(when)
        except ValueError:
            raise QueryRefused(f"DESTRUCTION={when!r} is not an ISO-8601 time") from None
        latest = parse_time(now_iso(self.max_retention_s))
        t = min(t, latest)
        value = t.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return self.store.update(job.job_id, {"destruction": value})

    def set_parameters(self, job: TapJob, params: dict[str, str]) -> TapJob:
        if job.phase != "PENDING":
            raise QueryRefused(f"job {job.job_id} is {job.phase}: its parameters are fixed")
        merged = {**job.parameters, **{k: v for k, v in params.items() if k in TAP_PARAMS}}
        return self.store.update(job.job_id, {"parameters": merged}, expect="PENDING")

    def sweep(self) -> int:
        """Destroy jobs past their destruction time (records and stored files)."""
        now = parse_time(now_iso())
        gone = 0
        for job in self.store.all_jobs():
            if parse_time(job.destruction) <= now:
                self.delete(job)
                gone += 1
        return gone

    def requeue(self) -> list[str]:
        """After a restart: jobs that were queued or executing are queued again."""
        ids = []
        for job in self.store.all_jobs():
            if job.phase == "EXECUTING":
                self.store.update(job.job_id, {"phase": "QUEUED"}, expect="EXECUTING")
            if job.phase in ("QUEUED", "EXECUTING"):
                self.runner.submit(job.job_id)
                ids.append(job.job_id)
        return ids

    # ------------------------------------------------------------------ execution
    def start(self, job_id: str) -> TapJob | None:
        """QUEUED -> EXECUTING; None when the job was aborted or deleted before it started."""
        try:
            job = self.store.update(
                job_id, {"phase": "EXECUTING", "started": now_iso()}, expect="QUEUED"
            )
        except (ConditionFailed, NoSuchJob):
            return None
        self._notify()
        return job

    def job_params(self, job: TapJob) -> tuple[Params, dict[str, pa.Table]]:
        """The job's request parameters and its uploaded tables."""
        p = Params({k.upper(): [v] for k, v in job.parameters.items()})
        tables = {
            name: pq.read_table(io.BytesIO(self.objects.get_bytes(self.bucket, key)))
            for name, key in job.uploads.items()
        }
        return p, tables

    def complete(self, job: TapJob, result) -> TapJob:
        """Store the result in the job's format; EXECUTING -> COMPLETED (an abort wins)."""
        fmt = query_args(Params({k.upper(): [v] for k, v in job.parameters.items()}))[3]
        body = formats.serialize(result.table, fmt, result.meta, overflow=result.overflow)
        key = f"{PREFIX}/{job.job_id}/result"
        self.objects.put_bytes(self.bucket, key, body, content_type=fmt.mime)
        info = {
            "key": key,
            "mime": fmt.mime,
            "size": len(body),
            "rows": result.table.num_rows,
            "overflow": result.overflow,
        }
        return self._finish(job, {"phase": "COMPLETED", "ended": now_iso(), "result": info})

    def fail(self, job: TapJob, exc: BaseException | str) -> TapJob:
        """EXECUTING -> ERROR with a message the user can act on (never a traceback)."""
        if isinstance(exc, str):
            msg = exc
        elif isinstance(exc, (QueryRefused, DataError)):
            msg = str(exc)
        else:
            log.error("async job %s failed", job.job_id, exc_info=exc)
            msg = f"internal error ({type(exc).__name__}); the service log has details"
        return self._finish(job, {"phase": "ERROR", "ended": now_iso(), "error": msg})

    def _finish(self, job: TapJob, changes: dict) -> TapJob:
        try:
            job = self.store.update(job.job_id, changes, expect="EXECUTING")
        except ConditionFailed:
            job = self.store.get(job.job_id)  # aborted while running: stays ABORTED
        except NoSuchJob:
            return job
        self._notify()
        return job

    def run_job(self, job_id: str) -> TapJob:
        """Execute one QUEUED job to COMPLETED or ERROR (ABORTED if aborted meanwhile)."""
        job = self.start(job_id)
        if job is None:
            return self.store.get(job_id)
        try:
            p, tables = self.job_params(job)
            result = run_tap(
                self.queries,
                self.mydb,
                job.owner,
                p,
                "async",
                tables,
                wait_s=24 * 3600.0,
                timeout_s=job.execution_duration,
                on_engine=lambda eng: self._running.__setitem__(job_id, eng),
            )
        except Exception as exc:
            return self.fail(job, exc)
        finally:
            self._running.pop(job_id, None)
        try:
            return self.complete(job, result)
        except Exception as exc:
            return self.fail(job, exc)

    # ------------------------------------------------------------------ waiting
    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def wait(self, job: TapJob, owner: str | None, seconds: float, phase: str | None) -> TapJob:
        """UWS blocking: until the job leaves ``phase`` (default: its current active phase)."""
        start_phase = phase or job.phase
        deadline = time.monotonic() + seconds
        while job.phase == start_phase and job.phase in ACTIVE:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            with self._changed:
                self._changed.wait(min(left, 1.0))
            job = self.get(job.job_id, owner)
        return job

    def result_bytes(self, job: TapJob) -> bytes:
        if job.phase != "COMPLETED" or not job.result:
            raise NoSuchJob(f"job {job.job_id} is {job.phase}: it has no result")
        try:
            return self.objects.get_bytes(self.bucket, job.result["key"])
        except ObjectNotFound:
            raise NoSuchJob(f"the result of job {job.job_id} is gone") from None


class LocalRunner:
    """Worker threads draining a FIFO of job ids (one machine; the queue is in memory,
    the phases in the job store, so a restart requeues from the store)."""

    def __init__(self, jobs: AsyncJobs, workers: int = 1):
        self.jobs = jobs
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._threads = [
            threading.Thread(target=self._work, name=f"cloudphot-uws-{i}", daemon=True)
            for i in range(workers)
        ]
        for t in self._threads:
            t.start()

    def submit(self, job_id: str) -> None:
        self._queue.put(job_id)

    def _work(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None:
                return
            try:
                self.jobs.run_job(job_id)
            except Exception:
                log.exception("async job %s could not be run", job_id)

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join(5)


# ---------------------------------------------------------------------- HTTP side
def _text(value: str | int | None, status: int = 200) -> Response:
    return Response(
        "" if value is None else str(value), status_code=status, media_type="text/plain"
    )


class UwsEndpoints:
    """``/tap/async`` routes; ``owner_of(request)`` says who is asking (None: anonymous)."""

    def __init__(
        self,
        jobs: AsyncJobs,
        *,
        owner_of: Callable[[Request], str | None] | None = None,
        user_tables: Callable[[Request], dict] | None = None,
        max_wait_s: float = 60.0,
    ):
        self.jobs = jobs
        self.owner_of = owner_of or (lambda request: None)
        self.max_wait_s = max_wait_s

    def routes(self) -> list[Route]:
        return [
            Route("/async", self.job_list, methods=["GET", "POST"]),
            Route("/async/{job_id}", self.job, methods=["GET", "POST", "DELETE"]),
            Route("/async/{job_id}/phase", self.phase, methods=["GET", "POST"]),
            Route("/async/{job_id}/executionduration", self.duration, methods=["GET", "POST"]),
            Route("/async/{job_id}/destruction", self.destruction, methods=["GET", "POST"]),
            Route("/async/{job_id}/quote", self.quote, methods=["GET"]),
            Route("/async/{job_id}/owner", self.owner, methods=["GET"]),
            Route("/async/{job_id}/error", self.error, methods=["GET"]),
            Route("/async/{job_id}/parameters", self.parameters, methods=["GET", "POST"]),
            Route("/async/{job_id}/results", self.results, methods=["GET"]),
            Route("/async/{job_id}/results/result", self.result, methods=["GET"]),
        ]

    # ------------------------------------------------------------------ helpers
    def _url(self, request: Request, job_id: str = "") -> str:
        root = str(request.base_url).rstrip("/")
        return f"{root}/tap/async" + (f"/{job_id}" if job_id else "")

    async def _call(self, fn, *args):
        return await anyio.to_thread.run_sync(lambda: fn(*args))

    async def _job(self, request: Request) -> TapJob:
        return await self._call(
            self.jobs.get, request.path_params["job_id"], self.owner_of(request)
        )

    def _summary(self, request: Request, job: TapJob) -> JobSummary:
        params = TapParameters(
            **{k: Parameter(id=k, value=v) for k, v in job.parameters.items() if k in TAP_PARAMS}
        )
        results = []
        if job.phase == "COMPLETED" and job.result:
            results.append(
                ResultReference(
                    id="result",
                    href=self._url(request, job.job_id) + "/results/result",
                    mime_type=job.result["mime"],
                    size=job.result["size"],
                )
            )
        error = None
        if job.phase == "ERROR":
            error = ErrorSummary(message=job.error or "", type=ErrorType.FATAL, has_detail=True)
        return JobSummary[TapParameters](
            job_id=job.job_id,
            run_id=job.run_id,
            owner_id=job.owner,
            phase=ExecutionPhase(job.phase),
            quote=None,
            creation_time=_time(job.created),
            start_time=_time(job.started),
            end_time=_time(job.ended),
            execution_duration=job.execution_duration,
            destruction=_time(job.destruction),
            parameters=params,
            results=Results(results=results),
            error_summary=error,
        )

    def _redirect(self, request: Request, job_id: str = "") -> Response:
        return RedirectResponse(self._url(request, job_id), status_code=303)

    @staticmethod
    def _failure(exc: Exception) -> Response:
        if isinstance(exc, NoSuchJob):
            return _text(str(exc), 404)
        if isinstance(exc, Forbidden):
            return _text(str(exc), 403)
        if isinstance(exc, (QueueFull, Busy)):
            return error_response(str(exc), 503)
        if isinstance(exc, Unauthorized):
            return error_response(exc)
        return error_response(exc)

    # ------------------------------------------------------------------ routes
    async def job_list(self, request: Request) -> Response:
        try:
            if request.method == "POST":
                return await self._create(request)
            owner = self.owner_of(request)
            await self._call(self.jobs.sweep)
            jobs = await self._call(self.jobs.store.jobs, owner)
            q = request.query_params
            phases = {p.upper() for p in q.getlist("PHASE") or q.getlist("phase")}
            after = q.get("AFTER") or q.get("after")
            last = q.get("LAST") or q.get("last")
            jobs = [j for j in jobs if j.phase != "ARCHIVED" or "ARCHIVED" in phases]
            if phases:
                jobs = [j for j in jobs if j.phase in phases]
            if after:
                t = parse_time(after)
                jobs = [j for j in jobs if parse_time(j.created) > t]
            if last:
                jobs = sorted(jobs, key=lambda j: j.created, reverse=True)[: max(0, int(last))]
            refs = [
                ShortJobDescription(
                    job_id=j.job_id,
                    phase=ExecutionPhase(j.phase),
                    run_id=j.run_id,
                    owner_id=j.owner,
                    creation_time=_time(j.created),
                    href=self._url(request, j.job_id),
                )
                for j in jobs
            ]
            return Response(_xml(Jobs(jobref=refs)), media_type="text/xml")
        except ValueError as exc:
            return error_response(QueryRefused(f"bad job-list filter: {exc}"))
        except Exception as exc:
            return self._failure(exc)

    async def _create(self, request: Request) -> Response:
        p = await read_params(request, max_file_bytes=self.jobs.limits.max_upload_bytes)
        query_args(p)  # a job that can never run is refused before it exists
        uploads = await read_uploads(
            p, self.jobs.limits.max_upload_bytes, allow_loopback=self.jobs.limits.local
        )
        params = {k.lower(): v[-1] for k, v in p.values.items()}
        owner = self.owner_of(request)
        job = await self._call(self.jobs.create, owner, params, uploads)
        if (p.get("PHASE") or "").upper() == "RUN":
            await self._call(self.jobs.run, job)
        return self._redirect(request, job.job_id)

    async def job(self, request: Request) -> Response:
        try:
            job = await self._job(request)
            if request.method == "DELETE":
                await self._call(self.jobs.delete, job)
                return self._redirect(request)
            if request.method == "POST":
                p = await read_params(request)
                if (p.get("ACTION") or "").upper() == "DELETE":
                    await self._call(self.jobs.delete, job)
                    return self._redirect(request)
                job = await self._apply(job, p)
                return self._redirect(request, job.job_id)
            wait = request.query_params.get("WAIT") or request.query_params.get("wait")
            if wait is not None:
                seconds = float(wait)
                seconds = self.max_wait_s if seconds < 0 else min(seconds, self.max_wait_s)
                phase = request.query_params.get("PHASE") or request.query_params.get("phase")
                job = await self._call(
                    self.jobs.wait, job, self.owner_of(request), seconds, phase and phase.upper()
                )
            return Response(_xml(self._summary(request, job)), media_type="text/xml")
        except ValueError as exc:
            return error_response(QueryRefused(f"bad value: {exc}"))
        except Exception as exc:
            return self._failure(exc)

    async def _apply(self, job: TapJob, p: Params) -> TapJob:
        if p.get("EXECUTIONDURATION") is not None:
            job = await self._call(self.jobs.set_duration, job, p.int("EXECUTIONDURATION", lo=-1))
        if p.get("DESTRUCTION") is not None:
            job = await self._call(self.jobs.set_destruction, job, p.get("DESTRUCTION"))
        phase = (p.get("PHASE") or "").upper()
        if phase == "RUN":
            job = await self._call(self.jobs.run, job)
        elif phase == "ABORT":
            job = await self._call(self.jobs.abort, job)
        elif phase:
            raise QueryRefused(f"PHASE={phase!r}: use RUN or ABORT")
        return job

    async def phase(self, request: Request) -> Response:
        try:
            job = await self._job(request)
            if request.method == "GET":
                return _text(job.phase)
            p = await read_params(request)
            value = (p.get("PHASE") or "").upper()
            if value not in ("RUN", "ABORT"):
                raise QueryRefused(f"PHASE={p.get('PHASE')!r}: use RUN or ABORT")
            await self._apply(job, p)
            return self._redirect(request, job.job_id)
        except Exception as exc:
            return self._failure(exc)

    async def duration(self, request: Request) -> Response:
        try:
            job = await self._job(request)
            if request.method == "GET":
                return _text(job.execution_duration)
            p = await read_params(request)
            await self._call(self.jobs.set_duration, job, p.int("EXECUTIONDURATION", lo=-1) or 0)
            return self._redirect(request, job.job_id)
        except Exception as exc:
            return self._failure(exc)

    async def destruction(self, request: Request) -> Response:
        try:
            job = await self._job(request)
            if request.method == "GET":
                return _text(job.destruction)
            p = await read_params(request)
            await self._call(self.jobs.set_destruction, job, p.get("DESTRUCTION") or "")
            return self._redirect(request, job.job_id)
        except Exception as exc:
            return self._failure(exc)

    async def quote(self, request: Request) -> Response:
        try:
            await self._job(request)
            return _text("")
        except Exception as exc:
            return self._failure(exc)

    async def owner(self, request: Request) -> Response:
        try:
            return _text((await self._job(request)).owner)
        except Exception as exc:
            return self._failure(exc)

    async def error(self, request: Request) -> Response:
        try:
            job = await self._job(request)
            if job.phase != "ERROR":
                return _text(f"job {job.job_id} is {job.phase}: it has no error", 404)
            return Response(formats.error_votable(job.error or ""), media_type=formats.VOTABLE_MIME)
        except Exception as exc:
            return self._failure(exc)

    async def parameters(self, request: Request) -> Response:
        try:
            job = await self._job(request)
            if request.method == "POST":
                p = await read_params(request)
                params = {k.lower(): v[-1] for k, v in p.values.items()}
                job = await self._call(self.jobs.set_parameters, job, params)
                return self._redirect(request, job.job_id)
            summary = self._summary(request, job)
            return Response(_xml(summary.parameters), media_type="text/xml")
        except Exception as exc:
            return self._failure(exc)

    async def results(self, request: Request) -> Response:
        try:
            job = await self._job(request)
            return Response(_xml(self._summary(request, job).results), media_type="text/xml")
        except Exception as exc:
            return self._failure(exc)

    async def result(self, request: Request) -> Response:
        try:
            job = await self._job(request)
            url = getattr(self.jobs.objects, "presigned_url", None)
            if url is not None and job.result:
                return RedirectResponse(url(self.jobs.bucket, job.result["key"]), status_code=303)
            body = await self._call(self.jobs.result_bytes, job)
            return Response(body, media_type=(job.result or {}).get("mime"))
        except Exception as exc:
            return self._failure(exc)
