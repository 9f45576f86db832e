"""The web monitor: the event/job tree, job pages, execution graphs and retry, over HTTP.

All routes live in :meth:`MonitorApp.handle` ``(method, path, query, body) ->
(status, headers, body)``, a plain function of the request with no web framework,
so the same routes can sit behind API Gateway + Lambda (a proxy event has exactly
these four parts). :func:`serve` puts them behind the standard library's
``ThreadingHTTPServer`` for ``cloudphot serve``.

The retry route changes state. Locally the server binds to 127.0.0.1 and the
workspace owner is the only user, but any web page the owner visits can send
requests to 127.0.0.1, so a guarded app (:meth:`MonitorApp.guard`, what ``cloudphot
serve`` uses) answers only the Host names it serves (DNS rebinding: a page of
evil.example whose name now resolves to 127.0.0.1 would otherwise read the tree), and
takes a state-changing request only from its own origin with the session's token,
which reaches the page in ``index.html`` and goes back in ``X-Cloudphot-Token`` (a
cross-origin ``POST`` with ``Content-Type: text/plain`` needs no preflight, so the
token is what stops it). Calls without headers are in-process (tests, the Lambda
handler) and not checked. On AWS the routes sit behind authentication:
``MonitorApi`` in template.yaml (``functions/monitor/``, over
:class:`~cloudphot.aws.platform.AwsPlatform`) requires IAM-signed (SigV4) requests
for every route.

Reads that scan every event and job (``/api/tree``, ``/api/status``) are cached per
change of the tables and computed once for any number of concurrent requests
(:class:`SingleFlight`), so a burst of polling pages costs one scan.
"""

from __future__ import annotations

import base64
import hmac
import json
import mimetypes
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ..errors import CloudphotError, ConfigError, ItemNotFound, StorageError, describe_error
from ..events import Event, Job, JobState
from ..events.model import utcnow
from ..platform.base import Platform
from .fields import field_progress
from .graph import execution_graph, state_status, to_svg
from .tree import (
    Node,
    build_tree,
    changed_options,
    filter_tree,
    fix_instead_of_retry,
    rerun_command,
    result_line,
    run_seconds,
)

__all__ = [
    "STATIC_DIR",
    "TOKEN_HEADER",
    "HttpError",
    "MonitorApp",
    "Response",
    "SingleFlight",
    "api_gateway_response",
    "make_server",
    "serve",
]

STATIC_DIR = Path(__file__).with_name("static")
Response = tuple[int, dict[str, str], bytes]
JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store"}
LOG_TAIL_BYTES = 16_000
MAX_BODY = 64 * 1024
#: the header carrying the session token on state-changing requests
TOKEN_HEADER = "x-cloudphot-token"
#: names every local monitor answers to, besides the one it was bound to
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
#: connections the HTTP server queues before accepting (the standard library's is 5)
LISTEN_BACKLOG = 1024
#: headers a static file is served with: no framing (the retry button), no sniffing
STATIC_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "Referrer-Policy": "same-origin",
}


class HttpError(Exception):
    """An error with the status and message the client gets back as JSON."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _json(status: int, obj: Any) -> Response:
    return status, dict(JSON_HEADERS), json.dumps(obj, default=str, sort_keys=True).encode()


def _flag(query: Mapping[str, str], name: str) -> bool:
    value = query.get(name, "").strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise HttpError(400, f"{name}={value!r}: use 1 or 0")


def _int(query: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = query.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HttpError(400, f"{name}={raw!r} is not an integer") from None
    if not lo <= value <= hi:
        raise HttpError(400, f"{name}={value} is outside [{lo}, {hi}]")
    return value


def _since(query: Mapping[str, str]) -> str | None:
    raw = query.get("since", "").strip()
    if not raw:
        return None
    try:
        datetime.fromisoformat(raw)
    except ValueError:
        raise HttpError(
            400, f"since={raw!r} is not an ISO-8601 time (e.g. 2026-01-31T12:00:00Z)"
        ) from None
    return raw


def _parse_query(query: str | Mapping[str, Any] | None) -> dict[str, str]:
    if query is None:
        return {}
    if isinstance(query, str):
        parsed = parse_qs(query, keep_blank_values=True)
        return {k: v[-1] for k, v in parsed.items()}
    return {str(k): (v[-1] if isinstance(v, list) else str(v)) for k, v in query.items()}


def _hostname(host: str) -> str:
    """``127.0.0.1:8765`` -> ``127.0.0.1``, ``[::1]:8765`` -> ``::1`` (lower case)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class SingleFlight:
    """Concurrent identical reads share one computation.

    A request takes the result of a computation that *started after it arrived*
    (so it never sees older data than it would have computed itself), waiting for
    one under way if needed; 200 concurrent requests cost at most two scans.
    """

    def __init__(self, max_keys: int = 64):
        self._cond = threading.Condition()
        self._slots: dict[Any, dict[str, Any]] = {}
        self._max_keys = max_keys

    def get(self, key: Any, compute: Callable[[], Any]) -> Any:
        arrived = time.monotonic()
        with self._cond:
            while True:
                slot = self._slots.get(key)
                if slot is None:
                    if len(self._slots) >= self._max_keys:
                        for k in [k for k, v in self._slots.items() if not v["busy"]]:
                            del self._slots[k]
                    slot = self._slots[key] = {"busy": False, "started": None, "value": None}
                if slot["started"] is not None and slot["started"] >= arrived:
                    return slot["value"]
                if not slot["busy"]:
                    slot["busy"] = True
                    break
                self._cond.wait()
        started = time.monotonic()
        try:
            value = compute()
        except BaseException:
            with self._cond:
                slot["busy"] = False
                self._cond.notify_all()
            raise
        with self._cond:
            slot.update(busy=False, started=started, value=value)
            self._cond.notify_all()
        return value


def _matches(node: Node, needle: str) -> bool:
    return any(
        needle in (n.subject or "").lower()
        or needle in n.label.lower()
        or needle in n.state.lower()
        or needle in n.id.lower()
        for n in node.walk()
    )


def _all_succeeded(node: Node) -> bool:
    return all(n.state == "SUCCEEDED" for n in node.walk() if n.kind == "job")


class MonitorApp:
    """The monitor's routes over one platform (tables, executions, definitions, runner)."""

    def __init__(self, platform: Platform, *, run_in_background: Callable[[], Any] | None = None):
        self.rt = platform
        self._run = run_in_background or platform.run
        self._run_lock = threading.Lock()
        self._run_thread: threading.Thread | None = None
        self._run_again = False
        self.last_run: dict[str, Any] = {}
        self.log_requests = False  # one line per request (`cloudphot serve --log-requests`)
        self._tree_cache: dict[tuple, tuple[tuple, dict[str, Any]]] = {}
        self._reads = SingleFlight()
        #: set by :meth:`guard`: the session token and the Host names answered
        self.session_token: str | None = None
        self.allowed_hosts: frozenset[str] | None = None

    def guard(self, host: str = "127.0.0.1", extra_hosts: tuple[str, ...] = ()) -> MonitorApp:
        """Serve over HTTP safely: answer only ``host``, the loopback names and
        ``extra_hosts``; state-changing requests need this session's token and the
        page's own origin. Returns self."""
        names = set(LOCAL_HOSTS) | {_hostname(h) for h in extra_hosts if h}
        if host and host not in ("0.0.0.0", "::", ""):
            names.add(_hostname(host))
        self.allowed_hosts = frozenset(names)
        self.session_token = secrets.token_urlsafe(32)
        return self

    # ------------------------------------------------------------------ dispatch
    def handle(
        self,
        method: str,
        path: str,
        query: str | Mapping[str, Any] | None = None,
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Answer one request; never raises (errors become JSON with a message).

        ``headers`` (names in any case) come from an HTTP adapter; without them the
        call is in-process and the door checks of a guarded app are skipped.
        """
        try:
            if headers is not None:
                self._check_door(method.upper(), {k.lower(): v for k, v in headers.items()})
            return self._route(method.upper(), path, _parse_query(query), body)
        except HttpError as exc:
            return _json(exc.status, {"error": exc.message, "status": exc.status})
        except ItemNotFound as exc:
            return _json(404, {"error": str(exc), "status": 404})
        except CloudphotError as exc:  # configuration, storage: the message says what
            return _json(500, {"error": f"{type(exc).__name__}: {exc}", "status": 500})
        except Exception as exc:
            return _json(500, {"error": f"internal error ({type(exc).__name__})", "status": 500})

    def _check_door(self, method: str, headers: dict[str, str]) -> None:
        """Host names served (DNS rebinding) and, for a POST, origin and token (CSRF)."""
        if self.allowed_hosts is None:
            return
        host = headers.get("host", "")
        if _hostname(host) not in self.allowed_hosts:
            raise HttpError(
                421,
                f"this monitor answers for {', '.join(sorted(self.allowed_hosts))}, not "
                f"{host or 'a request without Host'!r} (DNS rebinding protection); serve "
                "another name with 'cloudphot serve --allow-host NAME'",
            )
        if method in ("GET", "HEAD"):
            return
        site = headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            raise HttpError(403, f"cross-site request refused (Sec-Fetch-Site: {site})")
        for name in ("origin", "referer"):
            origin = headers.get(name)
            if origin is None:
                continue
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or parts.netloc.lower() != host.lower():
                raise HttpError(403, f"cross-origin request refused ({name.title()}: {origin})")
            break
        token = headers.get(TOKEN_HEADER, "")
        if not self.session_token or not hmac.compare_digest(token, self.session_token):
            raise HttpError(
                403,
                "state-changing requests need this session's token in X-Cloudphot-Token "
                "(the monitor page sends it; it is printed nowhere else)",
            )

    def _route(self, method: str, path: str, q: dict[str, str], body) -> Response:
        path = unquote(path) if "%" in path else path
        parts = [p for p in path.split("/") if p]
        if method not in ("GET", "HEAD", "POST"):
            raise HttpError(405, f"method {method} not allowed")
        if method == "POST":
            if len(parts) == 4 and parts[:2] == ["api", "jobs"] and parts[3] == "retry":
                return self.retry(parts[2], body)
            raise HttpError(405 if self._is_get_route(parts) else 404, f"no POST route {path}")
        if not parts:
            return self.static("index.html")
        if parts[0] == "static":
            return self.static("/".join(parts[1:]))
        if parts[0] != "api":
            raise HttpError(404, f"no such page {path}; the app lives at /")
        rest = parts[1:]
        if rest == ["status"]:
            return _json(200, self.status())
        if rest == ["tree"]:
            return _json(200, self.tree(q))
        if len(rest) == 2 and rest[0] == "jobs":
            return _json(200, self.job(rest[1]))
        if len(rest) == 2 and rest[0] == "executions":
            return _json(200, self.execution(rest[1]))
        if len(rest) == 3 and rest[0] == "executions" and rest[2] == "graph":
            return _json(200, self.execution_graph(rest[1]))
        if rest == ["cost"]:
            return _json(200, self.cost())
        raise HttpError(404, f"no API route {path}")

    @staticmethod
    def _is_get_route(parts: list[str]) -> bool:
        return bool(parts) and parts[0] == "api"

    # ------------------------------------------------------------------ static
    def static(self, rel: str) -> Response:
        """A file of the single-page app; nothing outside the static folder, ever."""
        if (
            not rel
            or "\\" in rel
            or "\x00" in rel
            or any(p in ("..", ".") or p.startswith(".") for p in rel.split("/"))
        ):
            raise HttpError(404 if rel else 400, f"no static file {rel!r}")
        root = STATIC_DIR.resolve()
        target = (root / rel).resolve()
        if root not in target.parents or not target.is_file():
            raise HttpError(404, f"no static file {rel!r}")
        ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype.endswith("javascript"):
            ctype += "; charset=utf-8"
        data = target.read_bytes()
        headers = {"Content-Type": ctype, "Cache-Control": "no-cache", **STATIC_HEADERS}
        if rel == "index.html" and self.session_token:
            # the page's copy of the session token, sent back on retry
            meta = f'<meta name="cloudphot-token" content="{self.session_token}">'
            data = data.replace(
                b'<meta charset="utf-8">', b'<meta charset="utf-8">' + meta.encode()
            )
            headers["Cache-Control"] = "no-store"
        return 200, headers, data

    # ------------------------------------------------------------------ reads
    def status(self) -> dict[str, Any]:
        doc = self._cached(("status",), self._status_scan)
        return {**doc, "runner": {"running": self.running, **self.last_run}, "now": utcnow()}

    def _status_scan(self) -> dict[str, Any]:
        jobs = self.rt.store.jobs()
        counts: dict[str, int] = {s.value: 0 for s in JobState}
        for j in jobs:
            counts[j.state.value] += 1
        events = sum(1 for _ in self.rt.store.tables.scan("events"))
        return {
            "workspace": str(self.rt.settings.home),
            "jobs": len(jobs),
            "events": events,
            "counts": counts,
            "failed": counts["FAILED"] + counts["ABORTED"],
            "dead_letters": self.rt.store.dead_letters(),
        }

    def _cached(self, key: tuple, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """``compute()`` once per change of the tables, and once for concurrent callers."""
        stamp = self._tables_stamp()
        cached = self._tree_cache.get(key)
        if stamp is not None and cached is not None and cached[0] == stamp:
            return cached[1]
        doc = self._reads.get(key, compute)
        # trust the stamp only once the files have been quiet for a second: file times
        # tick coarsely, so a write right after this read could leave them unchanged
        quiet = stamp is not None and all(
            st is None or time.time_ns() - st[0] > 1_000_000_000 for st in stamp
        )
        if quiet and stamp is not None:
            if len(self._tree_cache) > 32:
                self._tree_cache.clear()
            self._tree_cache[key] = (stamp, doc)
        return doc

    @property
    def running(self) -> bool:
        t = self._run_thread
        return bool(t and t.is_alive())

    def tree(self, q: Mapping[str, str]) -> dict[str, Any]:
        """The tree as JSON: failed or unfinished subtrees in full, succeeded ones folded."""
        failed, expand = _flag(q, "failed"), _flag(q, "all")
        since = _since(q)
        subject = q.get("subject") or None
        needle = q.get("q", "").strip().lower()
        limit = _int(q, "limit", 500, 1, 100_000)

        def scan() -> dict[str, Any]:
            doc = tree_payload(
                list(self.rt.store.events()),
                self.rt.store.jobs(),
                failed=failed,
                subject=subject,
                since=since,
                needle=needle,
                expand=expand,
                limit=limit,
            )
            doc["dead_letters"] = self.rt.store.dead_letters()
            doc["fields"] = [fp.to_dict() for fp in field_progress(self.rt)]
            self._recheck_fixes(doc["roots"])
            return doc

        return self._cached(("tree", failed, expand, since, subject, needle, limit), scan)

    def _tables_stamp(self) -> tuple | None:
        """Size and mtime of the local SQLite tables (and WAL): unchanged means the tree
        is too, so a page polling an idle 20,000-job workspace costs nothing. None
        (no caching) where the platform cannot tell cheaply (DynamoDB)."""
        return self.rt.change_stamp()

    def _job_or_404(self, job_id: str) -> Job:
        try:
            return self.rt.store.job(job_id)
        except ItemNotFound:
            raise HttpError(404, f"no job {job_id!r} in this workspace") from None

    def job(self, job_id: str) -> dict[str, Any]:
        job = self._job_or_404(job_id)
        try:
            event: Event | None = self.rt.store.event(job.event_id)
        except ItemNotFound:
            event = None
        produced = [e.as_input() for e in self.rt.store.events() if e.source == job.job_id]
        attempts = self._attempts(job)
        current = attempts[-1] if attempts else None
        history = self.rt.executions.history(current["arn"]) if current else []
        from .cost import job_cost, load_prices, objects_touched

        workers = []
        for w in (job.ran_on or {}).get("workers") or []:
            workers.append({**w, "log_tail": self._log_tail(w.get("log"))})
        doc = job.to_item()
        doc.update(
            input=job.input,
            output=job.output,
            ran_on=job.ran_on,
            workers=workers,
            event=event.as_input() if event else None,
            produced=produced,
            attempts_list=attempts,
            execution=current["name"] if current else None,
            retryable=job.state in (JobState.FAILED, JobState.ABORTED)
            and self._fix(job, event) is None,
            result=result_line(job),
            run_seconds=run_seconds(job),
            changed=changed_options(job, self._replayed(job)) if job.branch else [],
            objects=objects_touched(event, job, history, self.rt.settings.bucket("raw")),
        )
        # console links (execution, state machine log group); only a deployed stack has them
        links = self.rt.links(
            current["arn"] if current else None, current["state_machine"] if current else None
        )
        if links:
            doc["links"] = links
        if job.state in (JobState.FAILED, JobState.ABORTED):
            doc.update(
                reason=describe_error(job.error, job.cause),
                rerun=rerun_command(job, event),
                fix=self._fix(job, event),
            )
        try:
            every = [self.rt.executions.history(a["arn"]) for a in attempts] or [[]]
            doc["cost"] = job_cost(
                job,
                event,
                every,
                self.rt.targets.template,
                load_prices(),
                self.rt.settings.bucket("raw"),
            ).to_dict()
        except (ConfigError, ValueError) as exc:  # a bad price file must not hide the job
            doc["cost"] = {"error": str(exc)}
        return doc

    def _recheck_fixes(self, roots: list[dict[str, Any]]) -> None:
        """A refused upload whose object was replaced since may be retried: the tree's
        failed nodes are checked against the objects (only those nodes: failures are few)."""
        stack = list(roots)
        while stack:
            n = stack.pop()
            stack.extend(n.get("children") or [])
            d = n.get("detail") or {}
            if n.get("kind") != "job" or not d.get("fix"):
                continue
            try:
                job = self.rt.store.job(n["id"])
                event = self.rt.store.event(job.event_id)
            except ItemNotFound:
                continue
            if self._fix(job, event) is None:
                d.pop("fix", None)
                d["retryable"] = True

    def _fix(self, job: Job, event: Event | None) -> str | None:
        """:func:`fix_instead_of_retry` where the refused upload is known to be unchanged
        (its object's ETag is the upload's); replaced, gone or unknown: a retry is offered."""
        fix = fix_instead_of_retry(job, event)
        p = event.payload if event is not None else {}
        objects = getattr(self.rt, "objects", None)
        if fix is None or not (p.get("bucket") and p.get("key") and p.get("etag")):
            return fix if fix is None or job.error not in _UPLOAD_ERRORS else None
        if objects is None:
            return None
        try:
            etag = objects.head(str(p["bucket"]), str(p["key"])).etag
        except (StorageError, ValueError):
            return None  # gone or unreadable: nothing says a retry must fail
        return fix_instead_of_retry(job, event, etag)

    def _replayed(self, job: Job) -> Job | None:
        """The job a replay branch's job replays (same event and task, no branch)."""
        replay_of = (job.input or {}).get("replay_of")
        if not replay_of:
            return None
        try:
            return self.rt.store.job(replay_of)
        except ItemNotFound:
            return None

    def _attempts(self, job: Job) -> list[dict[str, Any]]:
        """Every execution of this job, oldest first (names: id, id-r1, id-r2, ...)."""
        out = []
        for n in range(max(job.attempts, 1)):
            name = job.job_id if n == 0 else f"{job.job_id}-r{n}"
            rec = self.rt.executions.find(name)
            if rec is not None:
                out.append(
                    {
                        "name": rec.name,
                        "arn": rec.arn,
                        "status": rec.status,
                        "start": rec.start_date,
                        "stop": rec.stop_date,
                        "state_machine": rec.state_machine,
                        "error": rec.error,
                    }
                )
        return out

    def _log_tail(self, path: str | None) -> str | None:
        """The end of a worker's log; only files inside the workspace are read."""
        if not path:
            return None
        p = Path(path).resolve()
        home = self.rt.settings.home.resolve()
        if home not in p.parents or not p.is_file():
            return None
        with open(p, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - LOG_TAIL_BYTES))
            return f.read().decode("utf-8", "replace")

    def _execution_or_404(self, name: str):
        rec = self.rt.executions.find(name)
        if rec is None:
            raise HttpError(404, f"no execution {name!r} in this workspace")
        return rec

    def execution(self, name: str) -> dict[str, Any]:
        rec = self._execution_or_404(name)
        return {**rec.__dict__, "history": self.rt.executions.history(rec.arn)}

    def execution_graph(self, name: str) -> dict[str, Any]:
        rec = self._execution_or_404(name)
        history = self.rt.executions.history(rec.arn)
        definition = self.rt.targets.state_machine_definition(rec.state_machine)
        graph = execution_graph(definition, history, rec.status)
        return {
            "execution": rec.name,
            "arn": rec.arn,
            "status": rec.status,
            "state_machine": rec.state_machine,
            "graph": graph.to_dict(),
            "svg": to_svg(graph),
            "states": {k: v.to_dict() for k, v in state_status(history, rec.status).items()},
        }

    def cost(self) -> dict[str, Any]:
        from .cost import load_prices, workspace_ledger

        return workspace_ledger(self.rt, load_prices()).to_dict()

    # ------------------------------------------------------------------ writes
    def retry(self, job_id: str, body) -> Response:
        """Reset a failed job to PENDING (from its event) and drain the runtime in a thread."""
        if body and len(body) > MAX_BODY:
            raise HttpError(413, "request body too large")
        job = self._job_or_404(job_id)
        if job.state not in (JobState.FAILED, JobState.ABORTED):
            raise HttpError(
                409, f"job {job_id} is {job.state.value}; only failed or aborted jobs are retried"
            )
        from ..events.retry import reset_for_retry

        reset = reset_for_retry(self.rt.store, event_id=job.event_id, task=job.task)
        if not any(j.job_id == job_id for j in reset):
            raise HttpError(409, f"job {job_id} was changed by someone else meanwhile")
        self.start_run()
        doc = {"reset": [j.job_id for j in reset], "running": True, "rerun": rerun_command(job)}
        if self.rt.run_inline:
            doc.update(running=False, run=self.last_run)
        return _json(202, doc)

    def start_run(self) -> None:
        """Drain the runtime in one background thread; a request during a run queues one more.

        A runtime with ``run_inline`` (the deployed stack behind Lambda, which freezes
        after answering) is drained before the response instead."""
        if self.rt.run_inline:
            self._drain()
            return
        with self._run_lock:
            if self.running:
                self._run_again = True
                return
            self._run_thread = threading.Thread(
                target=self._drain, name="cloudphot-monitor-run", daemon=True
            )
            self._run_thread.start()

    def _drain(self) -> None:
        while True:
            t0 = time.monotonic()
            try:
                summary = self._run()
                self.last_run = {
                    "finished_at": utcnow(),
                    "seconds": time.monotonic() - t0,
                    "jobs": getattr(summary, "jobs", None),
                    "error": None,
                }
            except Exception as exc:
                self.last_run = {"finished_at": utcnow(), "error": f"{type(exc).__name__}: {exc}"}
            with self._run_lock:
                if not self._run_again:
                    return
                self._run_again = False

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Block until no background run is active (tests, shutdown)."""
        t = self._run_thread
        if t is not None:
            t.join(timeout)
        return not self.running


#: failures of an upload that a retry reads again unchanged (unless it was replaced)
_UPLOAD_ERRORS = ("InvalidExposure", "DuplicateExposure", "InvalidEvent")


def tree_payload(
    events: list[Event],
    jobs: list[Job],
    *,
    failed: bool = False,
    subject: str | None = None,
    since: str | None = None,
    needle: str = "",
    expand: bool = False,
    limit: int = 500,
) -> dict[str, Any]:
    """The /api/tree document: counts, roots worth looking at, and folded succeeded roots."""
    counts: dict[str, int] = {s.value: 0 for s in JobState}
    for j in jobs:
        counts[j.state.value] += 1
    roots = filter_tree(build_tree(events, jobs), failed=failed, subject=subject, since=since)
    if needle:
        roots = [r for r in roots if _matches(r, needle)]
    shown: list[Node] = []
    folded: dict[str, dict[str, int]] = {}
    for r in roots:
        if not expand and not needle and _all_succeeded(r):
            f = folded.setdefault(r.label, {"roots": 0, "jobs": 0})
            f["roots"] += 1
            f["jobs"] += sum(1 for n in r.walk() if n.kind == "job")
            continue
        shown.append(r)
    # failures first: they are what the page is for
    shown.sort(key=lambda r: not r.has_failure())
    return {
        "counts": counts,
        "jobs": len(jobs),
        "events": len(events),
        "matched_roots": len(roots),
        "roots": [r.to_dict() for r in shown[:limit]],
        "omitted": max(0, len(shown) - limit),
        "collapsed": [{"label": k, **v} for k, v in sorted(folded.items())],
        "generated_at": utcnow(),
    }


# ---------------------------------------------------------------------- API Gateway
def api_gateway_response(app: MonitorApp, event: Mapping[str, Any]) -> dict[str, Any]:
    """The same routes behind API Gateway + Lambda: a REST (v1) or HTTP API (v2) proxy
    event in, a proxy response out. Authentication belongs in front (an authorizer)."""
    method = event.get("httpMethod") or ((event.get("requestContext") or {}).get("http") or {}).get(
        "method", "GET"
    )
    path = event.get("rawPath") or event.get("path") or "/"
    query: str | Mapping[str, Any] = (
        event.get("rawQueryString") or event.get("queryStringParameters") or ""
    )
    body = event.get("body") or b""
    if body and event.get("isBase64Encoded"):
        body = base64.b64decode(body)
    status, headers, data = app.handle(str(method), str(path), query, body)
    ctype = headers.get("Content-Type", "")
    if ctype.startswith(("text/", "application/json", "application/javascript", "image/svg")):
        return {
            "statusCode": status,
            "headers": headers,
            "body": data.decode("utf-8"),
            "isBase64Encoded": False,
        }
    return {
        "statusCode": status,
        "headers": headers,
        "body": base64.b64encode(data).decode("ascii"),
        "isBase64Encoded": True,
    }


# ---------------------------------------------------------------------- HTTP server
def _handler_class(app: MonitorApp):
    class Handler(BaseHTTPRequestHandler):
        server_version = "cloudphot-monitor"
        protocol_version = "HTTP/1.1"

        def _serve(self, method: str) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                status, headers, body = _json(413, {"error": "request body too large"})
            else:
                data = self.rfile.read(length) if length else b""
                status, headers, body = app.handle(
                    method, split.path, split.query, data, headers=dict(self.headers.items())
                )
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if method != "HEAD":
                self.wfile.write(body)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_HEAD(self) -> None:
            self._serve("HEAD")

        def do_POST(self) -> None:
            self._serve("POST")

        def log_message(self, fmt: str, *args: Any) -> None:
            if app_logs:
                super().log_message(fmt, *args)

    app_logs = getattr(app, "log_requests", False)
    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG  # a burst of polling pages must not be refused


def make_server(app: MonitorApp, host: str = "127.0.0.1", port: int = 8765) -> ThreadingHTTPServer:
    """A bound server (port 0: a free one, see ``server.server_address``).

    An app not yet guarded is guarded for ``host`` (see :meth:`MonitorApp.guard`)."""
    if app.allowed_hosts is None:
        app.guard(host)
    return _Server((host, port), _handler_class(app))


def serve(
    app: MonitorApp,
    host: str = "127.0.0.1",
    port: int = 8765,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve until interrupted."""
    server = make_server(app, host, port)
    h, p = server.server_address[:2]
    if ready:
        ready(f"http://{h!s}:{p}/")
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
