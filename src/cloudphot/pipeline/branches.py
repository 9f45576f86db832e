"""Comparing a replay branch's field catalogs with the original's."""

from __future__ import annotations

import numpy as np

from ..products import keys

__all__ = ["compare_branch"]


def compare_branch(rt, jobs) -> list[str]:
    """One line per field and filter: stars in each, matched, median Δmag (branch − original)."""
    from astropy.table import Table

    from ..verify import match_catalog

    lines = []
    bucket = rt.settings.bucket("products")
    for job in jobs:
        field_id = (job.input.get("event", {}).get("payload") or {}).get("field_id")
        if not field_id:
            continue
        a_key, b_key = keys.field_catalog(field_id), keys.field_catalog(field_id, job.branch)
        if not (rt.objects.exists(bucket, a_key) and rt.objects.exists(bucket, b_key)):
            lines.append(f"{field_id}: no catalog to compare yet (original or branch missing)")
            continue
        with rt.objects.local_path(bucket, a_key) as pa, rt.objects.local_path(bucket, b_key) as pb:
            a, b = Table.read(pa), Table.read(pb)
        ia, ib = match_catalog(a, b, radius_arcsec=0.05)
        lines.append(
            f"{field_id}: original {len(a)} stars, branch {job.branch} {len(b)} stars, "
            f"{len(ia)} matched"
        )
        for col in a.colnames:
            if col.endswith("_vega") and col in b.colnames:
                d = np.asarray(b[col], float)[ib] - np.asarray(a[col], float)[ia]
                d = d[np.isfinite(d) & (np.abs(d) < 5)]
                if d.size:
                    lines.append(
                        f"   {col[:-5].upper()}: median Δmag {np.median(d):+.4f}, "
                        f"robust scatter {1.4826 * np.median(np.abs(d - np.median(d))):.4f}"
                    )
    return lines
