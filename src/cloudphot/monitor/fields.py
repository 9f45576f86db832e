"""Where each field stands, and what the user has to do next.

A field goes exposures registered -> manifest uploaded -> ``field.ready`` ->
``reduce_field`` -> ``field.reduced`` -> ``build_catalog`` -> ``catalog.published``.
The pipeline waits silently at the first two steps (nothing has failed; something is
missing), so ``status``, ``tree`` and the web monitor show each field's stage with
the exact command that moves it on.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import CloudphotError
from ..manifests import manifest_key, parse_manifest
from ..platform.base import Platform

__all__ = ["FieldProgress", "field_progress", "registered_by_field"]


@dataclass
class FieldProgress:
    field_id: str
    #: "waiting for manifest" | "waiting for exposures" | "manifest invalid" | "reducing"
    #: | "reduce failed" | "reduced" | "building catalog" | "catalog build failed" | "in catalog"
    stage: str
    registered: int
    manifest: str | None = None  # its key in the raw bucket, when there is one
    missing: list[str] = field(default_factory=list)  # listed in the manifest, not registered
    catalog: str | None = None  # "<survey>/v<N>" once published
    stars: int | None = None  # stars in the field catalog, once reduced
    next: str = ""  # what to do, for people

    @property
    def waiting(self) -> bool:
        return self.stage.startswith("waiting") or self.stage == "manifest invalid"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "waiting": self.waiting}


def _record(item: dict) -> dict:
    rec = item.get("record")
    return json.loads(rec) if isinstance(rec, str) else item


def registered_by_field(platform: Platform) -> dict[str, set[str]]:
    """Field id -> ids of its registered exposures (what ``cloudphot manifest`` lists)."""
    registered: dict[str, set[str]] = defaultdict(set)
    for item in platform.tables.scan("exposures"):
        rec = _record(item)
        if rec.get("field_id") and rec.get("exposure_id"):
            registered[rec["field_id"]].add(rec["exposure_id"])
    return registered


def field_progress(platform: Platform, *, cli: str = "cloudphot") -> list[FieldProgress]:
    """Every field with a registered exposure or an uploaded manifest, in id order.

    ``cli`` prefixes the suggested commands (e.g. ``cloudphot --workdir W``).
    """
    raw = platform.settings.bucket("raw")
    registered = registered_by_field(platform)
    manifests = {
        info.key[len("manifests/") : -len(".json")]: info.key
        for info in platform.objects.list(raw, "manifests/")
        if info.key.endswith(".json") and "/" not in info.key[len("manifests/") :]
    }
    events = list(platform.store.events())
    jobs = platform.store.jobs()
    jobs_of: dict[str, list] = defaultdict(list)
    for j in jobs:
        if not j.branch:
            jobs_of[j.event_id].append(j)
    produced: dict[str, list] = defaultdict(list)
    for e in events:
        produced[e.source].append(e)
    ready = defaultdict(list)
    for e in events:
        if e.type == "field.ready" and not (e.payload.get("options") or {}).get("branch"):
            ready[e.subject].append(e)

    out = []
    for fid in sorted(set(registered) | set(manifests)):
        fp = FieldProgress(fid, "", len(registered.get(fid, ())), manifests.get(fid))
        _place(fp, platform, raw, registered.get(fid, set()), ready.get(fid, []), jobs_of, produced)
        fp.next = _next_step(fp, cli, platform.settings.survey)
        out.append(fp)
    return out


def _place(fp, platform, raw, members, ready, jobs_of, produced) -> None:
    if ready:
        _after_ready(fp, ready, jobs_of, produced)
        return
    if fp.manifest is None:
        fp.stage = "waiting for manifest"
        return
    try:
        doc = parse_manifest(platform.objects.get_bytes(raw, fp.manifest), fp.manifest)
    except CloudphotError as exc:
        fp.stage, fp.next = "manifest invalid", str(exc)
        return
    fp.missing = [e for e in doc["exposures"] if e not in members]
    fp.stage = "waiting for exposures" if fp.missing else "reducing"


def _after_ready(fp, ready, jobs_of, produced) -> None:
    """The latest field.ready's reduction, then its catalog build."""
    latest = max(ready, key=lambda e: e.created_at)
    reduces = [j for j in jobs_of.get(latest.event_id, []) if j.task == "reduce_field"]
    if not reduces or not reduces[-1].state.finished:
        fp.stage = "reducing"
        return
    reduce = reduces[-1]
    if reduce.state.value != "SUCCEEDED":
        fp.stage = "reduce failed"
        return
    fp.stage = "reduced"
    for e in produced.get(reduce.job_id, []):
        if e.type != "field.reduced":
            continue
        stars = e.payload.get("n_stars")
        fp.stars = int(stars) if isinstance(stars, int) else fp.stars
        builds = [j for j in jobs_of.get(e.event_id, []) if j.task == "build_catalog"]
        if not builds:
            continue
        build = builds[-1]
        if not build.state.finished:
            fp.stage = "building catalog"
        elif build.state.value != "SUCCEEDED":
            fp.stage = "catalog build failed"
        else:
            fp.stage = "in catalog"
            published = [x for x in produced.get(build.job_id, []) if x.type == "catalog.published"]
            fp.catalog = published[-1].subject if published else None


def _next_step(fp: FieldProgress, cli: str, survey: str) -> str:
    if fp.stage == "waiting for manifest":
        return (
            f"upload {manifest_key(fp.field_id)} listing its exposures, or build it from the "
            f"{fp.registered} registered: {cli} manifest {fp.field_id}"
        )
    if fp.stage == "waiting for exposures":
        shown = ", ".join(fp.missing[:5]) + (" ..." if len(fp.missing) > 5 else "")
        return (
            f"upload the {len(fp.missing)} exposure(s) the manifest lists that are not "
            f"registered ({shown}); or rebuild the manifest from the registered ones: "
            f"{cli} manifest {fp.field_id} --replace"
        )
    if fp.stage in ("reduce failed", "catalog build failed"):
        return f"see why: {cli} tree --failed --subject {fp.field_id}"
    if fp.stage == "in catalog":
        return f'{cli} query "SELECT count(*) FROM {survey}.phot_mod"'
    if fp.stage in ("reducing", "building catalog"):
        return f"{cli} run"
    return fp.next
