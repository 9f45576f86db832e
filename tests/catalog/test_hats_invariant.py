"""Issue 15 item 2: every row lives in the partition its ``_healpix_29`` names (HATS).

Another HATS reader (LSDB, hats) finds a row only in the partition file its index
points to; cloudphot's own cones find mis-filed rows only because the engine widens
phot_mod cones by LEGACY_FILING_SLACK_ARCSEC on format-1 manifests. Checked on the
sparse sky (stars exactly on HEALPix edges, duplicates, both poles), whose edge stars
are the ones a build files by one position and indexes by another.
"""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from cloudphot.catalog.query import TABLES, manifest_partitions

pytestmark = pytest.mark.slow


def _misfiled(cat, table: str) -> tuple[int, int]:
    """(rows in another partition than their _healpix_29's, rows) of one table."""
    bad = total = 0
    for order, pixel, entry in manifest_partitions(cat.manifest(), table):
        with cat.store.local_path(cat.bucket, entry["key"]) as p:
            hp = pq.read_table(p, columns=["_healpix_29"]).column(0).to_numpy()
        bad += int(np.count_nonzero(hp >> (2 * (29 - order)) != pixel))
        total += len(hp)
    return bad, total


@pytest.mark.parametrize("table", [t for t in TABLES if t != "phot_mod"])
def test_rows_live_in_the_partition_their_index_names(sparse, table):
    if table not in sparse.manifest()["tables"]:
        pytest.skip(f"no {table} in this catalog")
    bad, total = _misfiled(sparse, table)
    assert bad == 0, f"{bad} of {total} {table} rows in another partition"


def test_objects_live_in_the_partition_their_index_names(sparse):
    bad, total = _misfiled(sparse, "phot_mod")
    assert bad == 0, f"{bad} of {total} phot_mod rows in another partition"
    assert sparse.manifest()["format"] == 2  # the readers drop the legacy cone slack
