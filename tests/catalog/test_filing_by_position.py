"""Each merged object filed by the position phot_mod stores (issue 15.2), on a re-observed field."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cloudphot.catalog.build import read_manifest
from cloudphot.catalog.synthetic import M31_DEC_DEG, M31_RA_DEG, FieldSpec, write_field

from .conftest import make_workspace

pytestmark = pytest.mark.slow  # ~40 CPU-s: order-16 partitions, ~900 files

TABLES = ("phot_mod", "phot_meas", "phot_visit", "phot_pm", "phot_var")


def misfiled(cat, manifest) -> dict[str, int]:
    """Rows per table whose _healpix_29 names another partition than their file's."""
    out = {}
    for table in TABLES:
        bad = 0
        for sp, e in manifest["tables"][table]["partitions"].items():
            order = int(e.get("order", manifest["partition_order"]))
            pix = int(e.get("pixel", sp))
            hp = pq.read_table(cat.store.path_of(cat.bucket, e["key"]), columns=["_healpix_29"])
            bad += int(np.sum((hp.column(0).to_numpy() >> (2 * (29 - order))) != pix))
        out[table] = bad
    return out


@pytest.fixture
def edgy(tmp_path):
    """Two fields over the same stars (every object merges two positions) at order 16
    (3.2" partitions): many objects lie within the fields' 5 mas scatter of an edge."""
    settings, cat, _ = make_workspace(
        tmp_path, n_fields_ra=1, density_per_arcsec2=0.6, epochs_per_filter=2, size_arcsec=40
    )
    yield settings, cat
    cat.close()


def test_merged_objects_are_filed_by_their_stored_position(edgy):
    settings, cat = edgy
    bucket = settings.bucket("products")
    (fid,) = {i.key.split("/")[1] for i in cat.store.list(bucket, "fields/")}
    cat.build(partition_order=16)
    # the same sky again, re-observed as a second field: every object gets two rows
    m1 = read_manifest(cat.store, bucket, "phat_v2")
    f = m1["fields"][fid]
    assert f
    write_field(
        cat.store,
        bucket,
        FieldSpec("b15_f09", M31_RA_DEG, M31_DEC_DEG, 40.0),
        filters=["F475W", "F814W"],
        epochs_per_filter=2,
        density=0.6,
        seed=1,
    )
    # the second field's astrometry scatters by 30 mas and its S/N differs, so each
    # object's S/N^2-weighted position (what phot_mod stores) is not its plain mean
    key = f"fields/{'b15_f09'}/catalog.parquet"
    t = pq.read_table(cat.store.path_of(bucket, key))
    rng = np.random.default_rng(3)
    n = t.num_rows
    cols = {c: t.column(c) for c in t.column_names}
    cols["ra"] = pa.array(t.column("ra").to_numpy() + rng.normal(0, 0.03 / 3600, n) / 0.75)
    cols["dec"] = pa.array(t.column("dec").to_numpy() + rng.normal(0, 0.03 / 3600, n))
    for c in t.column_names:
        if c.endswith("_snr"):
            cols[c] = pa.array(t.column(c).to_numpy() * rng.uniform(0.2, 3, n)).cast(
                t.column(c).type
            )
    out = cat.store.path_of(bucket, key).with_name("x.parquet")
    pq.write_table(pa.table(cols, schema=t.schema), out)
    cat.store.put_file(bucket, key, out)
    out.unlink()
    res = cat.build()
    m = read_manifest(cat.store, bucket, "phat_v2")
    assert res.n_objects > 500

    assert misfiled(cat, m) == dict.fromkeys(TABLES, 0)
    assert m.get("format") == 2
