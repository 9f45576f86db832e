"""Building the survey catalog: merge, ids, schema, incremental versions, HATS layout."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from cloudphot.catalog import ids
from cloudphot.catalog.build import read_manifest
from cloudphot.catalog.schema import DATALAB_PHOT_MOD_COLUMNS, PHOT_MEAS, PHOT_MOD
from cloudphot.catalog.synthetic import FieldSpec, write_field
from cloudphot.errors import DataError

from .conftest import make_workspace


def test_phot_mod_follows_datalab_order(built):
    _, cat, _, _ = built
    t = cat.query("SELECT * FROM phat_v2.phot_mod LIMIT 5")
    assert t.colnames[:88] == DATALAB_PHOT_MOD_COLUMNS
    assert t.colnames == list(PHOT_MOD)
    m = cat.query("SELECT * FROM phat_v2.phot_meas LIMIT 5")
    assert m.colnames == list(PHOT_MEAS)
    assert len(DATALAB_PHOT_MOD_COLUMNS) == 88


def test_overlap_is_cross_matched(built):
    _, cat, survey, result = built
    # every field row became exactly one object-contribution; overlaps merged
    assert result.n_objects < survey.n_field_rows
    t = cat.query("SELECT nfields, count(*) AS n FROM phat_v2.phot_mod GROUP BY nfields")
    counts = dict(zip(t["nfields"], t["n"]))
    assert counts.get(2, 0) >= 5 and set(counts) <= {1, 2}
    assert counts[1] + 2 * counts.get(2, 0) == survey.n_field_rows
    assert result.n_measurements == survey.n_measurements


def test_objects_carry_consistent_ids(built):
    _, cat, _, _ = built
    t = cat.query(
        "SELECT ra, dec, objid, pix4096, pix256, htm9, random_id, _healpix_29, nmeas, "
        "f814w_vega, f814w_err, f475w_vega FROM phat_v2.phot_mod"
    )
    ra, dec = np.asarray(t["ra"]), np.asarray(t["dec"])
    assert (np.asarray(t["pix4096"]) == ids.pix4096_nest(ra, dec)).all()
    assert (np.asarray(t["pix256"]) == ids.pix256_ring(ra, dec)).all()
    assert (np.asarray(t["htm9"]) == ids.htm9(ra, dec)).all()
    assert len(set(np.asarray(t["objid"]))) == len(t)
    # objid encodes (almost always exactly) the object's own level-12 pixel
    assert np.mean(ids.objid_pix4096(t["objid"]) == np.asarray(t["pix4096"])) > 0.98
    assert (np.asarray(t["random_id"]) == ids.random_id(np.asarray(t["objid"]))).all()
    assert (np.asarray(t["nmeas"]) >= 60).all()
    good = np.asarray(t["f814w_vega"]) < 90
    assert good.mean() > 0.9 and (np.asarray(t["f814w_err"])[good] < 1).all()


def test_error_weighted_average_of_an_overlap_star(built):
    _settings, cat, _, _ = built
    mod = cat.query(
        "SELECT objid, f475w_vega, f475w_err FROM phat_v2.phot_mod WHERE nfields = 2 "
        "ORDER BY f475w_err LIMIT 1"
    )
    objid = int(mod["objid"][0])
    import pyarrow.compute as pc

    manifest = cat.manifest()
    rows = []
    for e in manifest["tables"]["phot_src"]["partitions"].values():
        with cat.store.local_path(cat.bucket, e["key"]) as p:
            t = pq.read_table(p)
        rows.append(t.filter(pc.equal(t["objid"], objid)))
    v = np.concatenate([r["f475w_vega"].to_numpy() for r in rows])
    e = np.concatenate([r["f475w_err"].to_numpy() for r in rows])
    assert len(v) == 2
    w = 1 / e.astype(float) ** 2
    assert mod["f475w_vega"][0] == pytest.approx(np.sum(w * v) / np.sum(w), abs=1e-4)
    assert mod["f475w_err"][0] == pytest.approx(1 / np.sqrt(np.sum(w)), rel=1e-4)


def test_provenance_on_every_measurement(built):
    _, cat, _, _ = built
    t = cat.query(
        "SELECT field_id, job_id, pipeline_version, task_options, count(*) AS n "
        "FROM phat_v2.phot_meas GROUP BY ALL ORDER BY field_id"
    )
    assert list(t["field_id"]) == ["b15_f01", "b15_f02", "b16_f01"]
    assert all(j == f"job-synthetic-{f}" for f, j in zip(t["field_id"], t["job_id"]))
    assert all(json.loads(o)["engine"] == "synthetic" for o in t["task_options"])
    assert (
        cat.query(
            "SELECT count(*) AS n FROM phat_v2.phot_meas WHERE image = '' OR exposure_id = ''"
        )["n"][0]
        == 0
    )


def test_incremental_versions(tmp_path):
    settings, cat, survey = make_workspace(
        tmp_path, n_fields_ra=2, density_per_arcsec2=0.03, epochs_per_filter=3
    )
    bucket = settings.bucket("products")
    r1 = cat.build()
    assert (r1.version, r1.parent) == (1, None)
    assert cat.build().changed is False  # idempotent: nothing new, no new version
    # a field far away touches other partitions only
    write_field(
        cat.store,
        bucket,
        FieldSpec("b20_f01", 11.3, 41.9, 40.0),
        filters=["F475W", "F814W"],
        epochs_per_filter=3,
        density=0.03,
    )
    r2 = cat.build()
    assert (r2.version, r2.parent, r2.fields_added) == (2, 1, ["b20_f01"])
    old = set(r1.rewritten["phot_mod"])
    assert set(r2.rewritten["phot_mod"]).isdisjoint(old)
    assert set(r2.copied["phot_mod"]) == old
    m2 = read_manifest(cat.store, bucket, "phat_v2", 2)
    assert all(m2["tables"]["phot_mod"]["partitions"][str(p)]["written_in"] == 1 for p in old)
    # earlier version still answers, with the earlier rows
    from cloudphot.catalog.api import Catalog

    with Catalog(settings, version=1) as v1, Catalog(settings) as v2:
        n1 = v1.query("SELECT count(*) AS n FROM phat_v2.phot_mod")["n"][0]
        n2 = v2.query("SELECT count(*) AS n FROM phat_v2.phot_mod")["n"][0]
        assert n1 == r1.n_objects and n2 == r2.n_objects > n1
        assert (
            v1.query("SELECT count(*) AS n FROM phat_v2.phot_meas WHERE field_id = 'b20_f01'")["n"][
                0
            ]
            == 0
        )
        # an id lookup reads only the partitions the id's pixel can be in
        oid = int(
            v2.query("SELECT objid FROM phat_v2.phot_mod WHERE field_id = 'b20_f01' LIMIT 1")[
                "objid"
            ][0]
        )
        duck = v2.engine.to_duckdb(f"SELECT * FROM phat_v2.phot_mod WHERE objid = {oid}")
        assert not any(f"Npix={p}.parquet" in duck for p in old)
        assert len(v2.query(f"SELECT * FROM phat_v2.phot_mod WHERE objid = {oid}")) == 1
    # refresh: a re-reduced field replaces its old rows, objids of unchanged stars survive
    ids_before = set(cat.query("SELECT objid FROM phat_v2.phot_mod")["objid"])
    write_field(
        cat.store,
        bucket,
        survey.fields[1],
        filters=["F475W", "F814W"],
        epochs_per_filter=4,
        density=0.03,
        job_id="job-rerun",
    )
    r3 = cat.build()
    assert r3.fields_refreshed == [survey.fields[1].field_id] and r3.version == 3
    with Catalog(settings) as v3:
        t = v3.query(
            "SELECT job_id, count(*) AS n FROM phat_v2.phot_meas WHERE field_id = "
            f"'{survey.fields[1].field_id}' GROUP BY job_id"
        )
        assert list(t["job_id"]) == ["job-rerun"]
        assert v3.query("SELECT count(*) AS n FROM phat_v2.phot_mod")["n"][0] == r2.n_objects
        assert set(v3.query("SELECT objid FROM phat_v2.phot_mod")["objid"]) == ids_before


def test_missing_products_are_a_data_error(tmp_path):
    _settings, cat, _ = make_workspace(
        tmp_path, n_fields_ra=1, density_per_arcsec2=0.01, epochs_per_filter=2
    )
    with pytest.raises(DataError, match="no products"):
        cat.build(["nope"])


def test_hats_layout(built):
    _settings, cat, _, _ = built
    m = cat.manifest()
    prefix = m["tables"]["phot_mod"]["prefix"]
    props = cat.store.get_bytes(cat.bucket, prefix + "properties").decode()
    assert "dataproduct_type=object" in props and "hats_col_ra=ra" in props
    info = cat.store.get_bytes(cat.bucket, prefix + "partition_info.csv").decode().split()
    assert info[0] == "Norder,Npix" and len(info) - 1 == len(m["tables"]["phot_mod"]["partitions"])
    with cat.store.local_path(cat.bucket, prefix + "dataset/_metadata") as p:
        md = pq.read_metadata(p)
    assert md.num_rows == m["tables"]["phot_mod"]["nrows"]
    for e in m["tables"]["phot_meas"]["partitions"].values():
        with cat.store.local_path(cat.bucket, e["key"]) as p:
            f = pq.ParquetFile(p)
            hp = f.read(columns=["_healpix_29"]).column(0).to_numpy()
        assert (np.diff(hp) >= 0).all()  # sorted by the spatial index
        assert all(f.metadata.row_group(i).num_rows <= 20_000 for i in range(f.num_row_groups))


@pytest.mark.filterwarnings("ignore:The inplace keyword in NestedFrame")  # lsdb internals
def test_lsdb_reads_it(built):
    lsdb = pytest.importorskip("lsdb")
    _settings, cat, _, result = built
    m = cat.manifest()
    path = cat.store.path_of(cat.bucket, m["tables"]["phot_mod"]["prefix"] + "properties").parent
    c = lsdb.read_hats(path)
    df = c.compute()
    assert len(df) == result.n_objects
    cone = c.cone_search(10.69, 41.275, 20).compute()
    ours = cat.cone(10.69, 41.275, 20)
    assert sorted(cone["objid"]) == sorted(ours["objid"])


def test_column_docs_are_current(project_root):
    from cloudphot.catalog.schema import markdown

    assert (project_root / "docs" / "catalog-columns.md").read_text() == markdown(), (
        "regenerate: PYTHONPATH=src python -m cloudphot.catalog.schema > docs/catalog-columns.md"
    )
    for name, (_, _unit, text) in {**PHOT_MOD, **PHOT_MEAS}.items():
        assert text, name


def test_field_by_field_equals_all_at_once(tmp_path):
    """Publishing fields one version at a time gives the same catalog as one build."""
    _s1, one, survey = make_workspace(
        tmp_path / "a", n_fields_ra=2, n_fields_dec=2, density_per_arcsec2=0.1, epochs_per_filter=2
    )
    _s2, inc, _ = make_workspace(
        tmp_path / "b", n_fields_ra=2, n_fields_dec=2, density_per_arcsec2=0.1, epochs_per_filter=2
    )
    r = one.build()
    ids_ = [f.field_id for f in survey.fields]
    for i in range(len(ids_)):
        last = inc.build(ids_[: i + 1])
    assert last.version == 4
    assert r.n_measurements == last.n_measurements == survey.n_measurements
    assert r.n_objects == last.n_objects
    q = "SELECT round(ra, 7) AS ra, round(dec, 7) AS dec, nfields, nmeas, round(f814w_vega, 4) AS m FROM phat_v2.phot_mod ORDER BY ra, dec"
    a, b = one.query(q), inc.query(q)
    assert (a["nfields"] == b["nfields"]).all() and (a["nmeas"] == b["nmeas"]).all()
    assert np.allclose(a["ra"], b["ra"]) and np.allclose(a["m"], b["m"])


def test_oversized_partitions_are_reported(tmp_path, monkeypatch, caplog):
    import logging

    from cloudphot.catalog import build as build_mod

    from .conftest import make_workspace

    _, cat, _ = make_workspace(
        tmp_path, n_fields_ra=1, density_per_arcsec2=0.05, epochs_per_filter=2
    )
    monkeypatch.setattr(build_mod, "LARGE_PARTITION_OBJECTS", 10)
    with cat, caplog.at_level(logging.WARNING, logger="cloudphot.catalog.build"):
        res = cat.build(partition_order=5)
    assert res.large_partitions and all(n > 10 for n in res.large_partitions.values())
    assert sum(res.large_partitions.values()) == res.n_objects
    assert "deeper partition order" in caplog.text and "(now 5)" in caplog.text
    assert res.as_dict()["large_partitions"] == res.large_partitions
