"""Issue 15 item 2: every row lives in the partition its ``_healpix_29`` names (HATS).

Another HATS reader (LSDB, hats) finds a row only in the partition file its index
points to; cloudphot's own cones find mis-filed rows only because the engine widens
phot_mod cones by LEGACY_FILING_SLACK_ARCSEC on format-1 manifests. Checked on the
sparse sky (stars exactly on HEALPix edges, duplicates, both poles), whose edge stars
are the ones a build files by one position and indexes by another.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from cloudphot.catalog.api import Catalog
from cloudphot.catalog.query import TABLES, manifest_partitions
from cloudphot.settings import Settings

pytestmark = pytest.mark.slow
_SPARSE = Path(__file__).resolve().parents[2] / "benchmarks" / "sparse_sky.py"


def load_sparse_sky():
    spec = importlib.util.spec_from_file_location("sparse_sky", _SPARSE)
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("sparse_sky", mod)  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def sparse(tmp_path_factory):
    path = tmp_path_factory.mktemp("sparse-invariant")
    settings = Settings.from_env(home=path, env={})
    cat = Catalog(settings)
    load_sparse_sky().write_sparse_sky(
        cat.store, settings.bucket("products"), n_objects=12_000, epochs=2, seed=15
    )
    cat.build(partition_order=7)
    yield cat
    cat.close()


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
