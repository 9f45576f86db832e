"""Versions share the partitions they did not change: no copies, one manifest per version."""

from __future__ import annotations

import duckdb
import pytest
import sqlglot

from cloudphot.catalog import commands
from cloudphot.catalog.api import Catalog
from cloudphot.catalog.athena_sql import athena_sql
from cloudphot.catalog.build import materialize_hats_tree, prune_versions, read_manifest
from cloudphot.catalog.hats import partition_key
from cloudphot.catalog.integrity import manifest_files, verify_version
from cloudphot.catalog.synthetic import FieldSpec, write_field
from cloudphot.errors import DataError

from .conftest import make_workspace

FAR = FieldSpec("b20_f01", 11.3, 41.9, 40.0)


def _add(cat, bucket, spec):
    write_field(
        cat.store, bucket, spec, filters=["F475W", "F814W"], epochs_per_filter=3, density=0.03
    )


def _billed(store, bucket, manifests):
    """Bytes S3 bills for these versions: each distinct object once."""
    objs = {}
    for m in manifests:
        for _, key, e in manifest_files(m):
            objs[key] = e["size"]
    return sum(objs.values())


@pytest.fixture
def two(tmp_path, request):
    settings, cat, _ = make_workspace(
        tmp_path, n_fields_ra=2, density_per_arcsec2=0.03, epochs_per_filter=3
    )
    if getattr(request, "param", None) == "s3-like":
        cat.store.copies_are_free = False  # as on S3: a copy would be billed
    bucket = settings.bucket("products")
    r1 = cat.build()
    _add(cat, bucket, FAR)
    r2 = cat.build()
    m1, m2 = (read_manifest(cat.store, bucket, "phat_v2", v) for v in (1, 2))
    yield settings, cat, bucket, (r1, r2), (m1, m2)
    cat.close()


def test_unchanged_partitions_are_named_not_copied(two):
    _settings, cat, bucket, (r1, r2), (m1, m2) = two
    assert r2.version == 2 and set(r2.copied["phot_mod"]) == set(r1.rewritten["phot_mod"])
    for table in ("phot_mod", "phot_meas", "phot_src"):
        for p in r2.copied[table]:
            e1, e2 = (
                m1["tables"][table]["partitions"][str(p)],
                m2["tables"][table]["partitions"][str(p)],
            )
            assert e2["key"] == e1["key"] and e2["key"].startswith("catalogs/phat_v2/v0001/")
            assert e2["written_in"] == 1 and e2["sha256"] == e1["sha256"]
    # derived tables are recomputed each build, but a partition with the same bytes is
    # shared too (the far field changes none of the first fields' visits)
    shared_derived = [
        e
        for t in ("phot_visit", "phot_pm", "phot_var")
        for e in m2["tables"][t]["partitions"].values()
        if e["written_in"] == 1
    ]
    assert shared_derived
    full_copies = _billed(cat.store, bucket, [m1]) + _billed(cat.store, bucket, [m2])
    assert _billed(cat.store, bucket, [m1, m2]) < 0.8 * full_copies
    assert verify_version(cat.store, bucket, m2).ok


def test_each_version_answers_with_its_own_rows(two):
    settings, _cat, _bucket, (r1, r2), _ = two
    with Catalog(settings, version=1) as v1, Catalog(settings) as v2:
        q = "SELECT count(*) AS n FROM phat_v2.phot_mod"
        assert v1.query(q)["n"][0] == r1.n_objects
        assert v2.query(q)["n"][0] == r2.n_objects > r1.n_objects
        q = "SELECT count(*) AS n FROM phat_v2.phot_meas"
        assert v2.query(q)["n"][0] == r2.n_measurements


@pytest.mark.parametrize("two", ["s3-like"], indirect=True)
def test_without_free_copies_nothing_is_copied_and_athena_reads_through_the_manifest(two):
    settings, cat, bucket, (_r1, r2), (_m1, m2) = two
    p = r2.copied["phot_mod"][0]
    hats_path = m2["tables"]["phot_mod"]["prefix"] + partition_key(10, p)
    assert not cat.store.exists(bucket, hats_path)  # no second object
    with Catalog(settings) as v2:
        assert v2.query("SELECT count(*) AS n FROM phat_v2.phot_mod")["n"][0] == r2.n_objects
    # Athena: the versions that wrote the files, and exactly their objects
    sql, _ = athena_sql(
        "SELECT count(*) AS n FROM phat_v2.phot_mod", m2, survey="phat_v2", bucket=bucket
    )
    assert '"version" IN (1, 2)' in sql and '"$path" IN (' in sql
    with pytest.raises(ValueError, match="bucket"):
        athena_sql("SELECT 1 FROM phat_v2.phot_mod", m2, survey="phat_v2")
    # run it on a DuckDB emulation of the Glue layout (every file of every version)
    root = cat.store.path_of(bucket, "catalogs").as_posix()
    con = duckdb.connect()
    con.execute("CREATE SCHEMA phat_v2")
    con.execute(
        f"CREATE VIEW phat_v2.phot_mod AS SELECT *, "
        f"CAST(regexp_extract(filename, '/v([0-9]{{4}})/', 1) AS INTEGER) AS version, "
        f"CAST(regexp_extract(filename, '/Norder=([0-9]+)/', 1) AS INTEGER) AS norder, "
        f"CAST(regexp_extract(filename, '/Dir=([0-9]+)/', 1) AS INTEGER) AS dir, "
        f"'s3://{bucket}/catalogs/' || filename[{len(root) + 2}:] AS \"$path\" "
        f"FROM read_parquet('{root}/phat_v2/v*/phot_mod/dataset/*/*/*.parquet', filename = true)"
    )
    duck = sqlglot.transpile(sql, read="trino", write="duckdb")[0]
    assert con.sql(duck).fetchall()[0][0] == r2.n_objects
    # a HATS reader on S3 needs the tree completed: an explicit, billed choice
    assert materialize_hats_tree(cat.store, bucket, m2) > 0
    assert cat.store.exists(bucket, hats_path)


@pytest.mark.filterwarnings("ignore:The inplace keyword in NestedFrame")  # lsdb internals
def test_lsdb_opens_a_later_version_locally(two):
    lsdb = pytest.importorskip("lsdb")
    _settings, cat, bucket, (_r1, r2), (_m1, m2) = two
    path = cat.store.path_of(bucket, m2["tables"]["phot_mod"]["prefix"] + "properties").parent
    assert len(lsdb.read_hats(path).compute()) == r2.n_objects


def test_prune_keeps_what_kept_versions_share(two, capsys):
    settings, cat, bucket, (_r1, _r2), (_m1, _m2) = two
    _add(cat, bucket, FieldSpec("b21_f01", 11.6, 41.9, 40.0))
    r3 = cat.build()
    with pytest.raises(DataError, match="--keep"):
        prune_versions(cat.store, bucket, "phat_v2", 0)
    home = str(settings.home)
    assert commands.main(["--workdir", home, "catalog", "prune", "--keep", "1"]) == 0
    assert "pruned v1, v2" in capsys.readouterr().out
    assert cat.versions() == [3]
    m3 = read_manifest(cat.store, bucket, "phat_v2", 3)
    assert verify_version(cat.store, bucket, m3).ok  # v1's shared files are still there
    with Catalog(settings) as v3:
        assert v3.query("SELECT count(*) AS n FROM phat_v2.phot_mod")["n"][0] == r3.n_objects
    with pytest.raises(DataError, match="no catalog version 1"):
        read_manifest(cat.store, bucket, "phat_v2", 1)
    assert commands.main(["--workdir", home, "catalog", "prune", "--keep", "1"]) == 0
    assert "nothing to prune" in capsys.readouterr().out
