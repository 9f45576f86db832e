"""A real PHAT brick-15 catalog (shared data, read in place) through build, queries and maps."""

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cloudphot.catalog import ids
from cloudphot.catalog.api import Catalog
from cloudphot.catalog.maps import healpix_map
from cloudphot.catalog.schema import DATALAB_PHOT_MOD_COLUMNS, PHAT_FILTERS
from cloudphot.products import FIELD_COLUMNS, PER_FILTER_COLUMNS, keys
from cloudphot.settings import Settings

fitsio = pytest.importorskip("fitsio")


@pytest.fixture(scope="module")
def real(shared_data, tmp_path_factory):
    path = shared_data / "phat" / "b15_data_test.fits"
    if not path.exists():
        pytest.skip("b15_data_test.fits not present")
    data = fitsio.read(str(path), ext=1)
    n = len(data)
    cols = {
        "field_id": pa.array(["b15_f27"] * n),
        "star_id": np.arange(n, dtype=np.int64),
        "ra": data["ra"].astype(float),
        "dec": data["dec"].astype(float),
        "x": data["x"].astype(float),
        "y": data["y"].astype(float),
    }
    detected = sum((data[f"{f.lower()}_vega"] < 90).astype(np.int32) for f in PHAT_FILTERS)
    cols["nexp"] = detected.astype(np.int32)
    for f in PHAT_FILTERS:
        p = f.lower()
        for c in PER_FILTER_COLUMNS:
            if c == "nmeas":
                cols[f"{p}_{c}"] = (data[f"{p}_vega"] < 90).astype(np.int32)
            elif c == "st":
                cols[f"{p}_{c}"] = data[f"{p}_gst"].astype(bool)
            else:
                v = data[f"{p}_{c}"]
                cols[f"{p}_{c}"] = v.astype(v.dtype.newbyteorder("="))
    table = pa.table(cols)
    assert table.column_names[: len(FIELD_COLUMNS)] == list(FIELD_COLUMNS)
    settings = Settings.from_env(home=tmp_path_factory.mktemp("phat"), env={})
    cat = Catalog(settings)
    buf = io.BytesIO()
    pq.write_table(table, buf)
    cat.store.put_bytes(cat.bucket, keys.field_catalog("b15_f27"), buf.getvalue())
    result = cat.build()
    yield cat, data, result
    cat.close()


def test_real_catalog_round_trips(real):
    cat, data, result = real
    assert result.n_objects == len(data) and result.n_measurements == 0
    t = cat.query("SELECT * FROM phat_v2.phot_mod ORDER BY ra")
    assert t.colnames[:88] == DATALAB_PHOT_MOD_COLUMNS
    order = np.argsort(data["ra"])
    # one field: every average is the field's own value
    for c in ("ra", "dec", "f475w_vega", "f814w_vega", "f814w_err", "f160w_vega", "f275w_sharp"):
        assert np.allclose(
            np.asarray(t[c], float), data[c][order].astype(float), rtol=1e-6, equal_nan=True
        ), c
    assert (np.asarray(t["f814w_gst"]) == data["f814w_gst"][order]).all()
    assert (np.asarray(t["pix4096"]) == ids.pix4096_nest(t["ra"], t["dec"])).all()
    assert (np.asarray(t["brick"]) == 15).all() and (np.asarray(t["field"]) == 27).all()


def test_paper_queries_on_real_data(real):
    cat, data, _ = real
    assert len(cat.query("SELECT * FROM phat_v2.phot_mod LIMIT 100")) == 100
    g = cat.query(
        "SELECT avg(ra) as ra0,avg(dec) as dec0,pix4096,count(pix4096) as nb "
        "FROM phat_v2.phot_mod GROUP BY pix4096"
    )
    assert int(np.sum(g["nb"])) == len(data)
    star = data[100]
    hit = cat.cone(float(star["ra"]), float(star["dec"]), 0.05)
    assert len(hit) >= 1 and hit["dist_arcsec"][0] < 1e-3
    m = healpix_map(cat, "color", color="F475W-F814W", order=12)
    assert 0 < np.median(m.values) < 4  # RGB-dominated M31 disc
