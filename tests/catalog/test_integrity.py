"""A corrupted catalog file never gives an answer: checksums in the manifest, verified on read."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from cloudphot.catalog import commands, integrity
from cloudphot.catalog.api import Catalog
from cloudphot.catalog.build import read_manifest
from cloudphot.catalog.integrity import CorruptCatalogFile, verify_version
from cloudphot.catalog.synthetic import write_field
from cloudphot.errors import DataError

from .conftest import make_workspace


@pytest.fixture
def small(tmp_path):
    settings, cat, survey = make_workspace(
        tmp_path, n_fields_ra=2, density_per_arcsec2=0.03, epochs_per_filter=2
    )
    result = cat.build()
    cat.close()
    yield settings, survey, result
    integrity.CHECKS.forget()


def _flip(path, column: str = "f475w_vega", n: int = 64) -> int:
    """Invert ``n`` bytes in the middle of ``column``'s first data page; return the offset."""
    md = pq.read_metadata(path)
    rg = md.row_group(0)
    col = next(rg.column(i) for i in range(rg.num_columns) if rg.column(i).path_in_schema == column)
    start = col.data_page_offset + col.total_compressed_size // 2 - n // 2
    with open(path, "r+b") as f:
        f.seek(start)
        chunk = f.read(n)
        f.seek(start)
        f.write(bytes(b ^ 0xFF for b in chunk))
    return start


def _mod_entry(settings):
    m = read_manifest(Catalog(settings).store, settings.bucket("products"), "phat_v2")
    (entry,) = list(m["tables"]["phot_mod"]["partitions"].values())[:1]
    return m, entry


def test_manifest_records_sha256_of_every_published_file(small):
    settings, _, _ = small
    with Catalog(settings) as cat:
        m = cat.manifest()
        files = list(integrity.manifest_files(m))
        tables = {t for t, _, _ in files}
        assert {"phot_mod", "phot_meas", "phot_src", "phot_visit", "phot_pm", "phot_var"} <= tables
        for _, key, e in files:
            path = cat.store.path_of(cat.bucket, key)
            assert e["sha256"] == integrity.sha256_file(path), key
            assert e["size"] == path.stat().st_size
        # the HATS metadata files are recorded too
        assert any(k.endswith("dataset/_metadata") for _, k, _ in files)
        assert verify_version(cat.store, cat.bucket, m).ok


def test_flipped_bytes_in_phot_mod_fail_the_query_naming_the_file(small):
    settings, _, _ = small
    q = "SELECT avg(f475w_vega) AS m, count(*) AS n FROM phat_v2.phot_mod WHERE f475w_vega < 90"
    with Catalog(settings) as cat:
        before = cat.query(q)
    _m, entry = _mod_entry(settings)
    path = Catalog(settings).store.path_of(settings.bucket("products"), entry["key"])
    _flip(path)
    integrity.CHECKS.forget()  # a new process
    with Catalog(settings) as cat, pytest.raises(CorruptCatalogFile) as err:
        after = cat.query(q)
        # (before the fix: a different answer, or a decoder error, never this refusal)
        assert not np.allclose(after["m"], before["m"])
    msg = str(err.value)
    assert entry["key"] in msg and "SHA-256" in msg
    assert "cloudphot catalog verify" in msg and "--rebuild" in msg
    assert isinstance(err.value, DataError)  # the CLI exits 2 on it


def test_a_process_hashes_each_file_once_and_sees_a_later_change(small):
    settings, _, _ = small
    integrity.CHECKS.forget()
    with Catalog(settings) as cat:
        cat.query("SELECT count(*) FROM phat_v2.phot_mod")
        first = integrity.CHECKS.bytes_hashed
        assert first > 0
        cat.query("SELECT count(*) FROM phat_v2.phot_mod WHERE ra > 0")
        assert integrity.CHECKS.bytes_hashed == first  # verified once per process
        _m, entry = _mod_entry(settings)
        _flip(cat.store.path_of(cat.bucket, entry["key"]), column="ra")
        with pytest.raises(CorruptCatalogFile, match="SHA-256"):  # ctime moved: hashed again
            cat.query("SELECT count(*) FROM phat_v2.phot_mod WHERE dec > 0")


def test_truncated_and_missing_files_are_named(small):
    settings, _, _ = small
    _m, entry = _mod_entry(settings)
    store = Catalog(settings).store
    path = store.path_of(settings.bucket("products"), entry["key"])
    data = path.read_bytes()
    path.write_bytes(data[:-100])
    with Catalog(settings) as cat, pytest.raises(CorruptCatalogFile, match="bytes where"):
        cat.query("SELECT count(*) FROM phat_v2.phot_mod")
    path.unlink()
    integrity.CHECKS.forget()
    with Catalog(settings) as cat, pytest.raises(CorruptCatalogFile, match="missing"):
        cat.query("SELECT count(*) FROM phat_v2.phot_mod")


def test_verify_command_names_the_corrupt_file_and_exits_2(small, capsys):
    settings, _, _ = small
    home = str(settings.home)
    assert commands.main(["--workdir", home, "catalog", "verify"]) == 0
    assert "0 corrupt" in capsys.readouterr().out
    m, entry = _mod_entry(settings)
    store = Catalog(settings).store
    _flip(store.path_of(settings.bucket("products"), entry["key"]))
    # HATS metadata is checked too
    meta_key = m["tables"]["phot_meas"]["prefix"] + "dataset/_metadata"
    meta = store.path_of(settings.bucket("products"), meta_key)
    meta.write_bytes(meta.read_bytes()[:-1] + b"!")
    assert commands.main(["--workdir", home, "catalog", "verify"]) == 2
    out = capsys.readouterr()
    assert f"CORRUPT s3://{settings.bucket('products')}/{entry['key']}" in out.out
    assert meta_key in out.out and "2 corrupt" in out.out
    assert "--rebuild" in out.err


def test_a_build_never_launders_a_corrupt_partition_into_a_new_version(small):
    settings, survey, _ = small
    store = Catalog(settings).store
    bucket = settings.bucket("products")
    m = read_manifest(store, bucket, "phat_v2")
    spec = survey.fields[0]
    # a re-reduced field: the build reads the phot_src partitions the field is in
    p = m["fields"][spec.field_id]["src_partitions"][0]
    src = m["tables"]["phot_src"]["partitions"][str(p)]
    _flip(store.path_of(bucket, src["key"]), column="ra")
    integrity.CHECKS.forget()
    write_field(
        store,
        bucket,
        spec,
        filters=["F475W", "F814W"],
        epochs_per_filter=2,
        density=0.03,
        job_id="job-rerun",
    )
    with Catalog(settings) as cat:
        with pytest.raises(CorruptCatalogFile, match=src["key"]):
            cat.build()
        assert cat.versions() == [1]  # nothing was published
        # the way back: a rebuild from the field products alone
        res = cat.build(rebuild=True)
        assert res.version == 2 and sorted(res.fields_added) == sorted(m["fields"])
        assert verify_version(cat.store, cat.bucket, cat.manifest()).ok
        assert cat.query("SELECT count(*) AS n FROM phat_v2.phot_mod")["n"][0] == res.n_objects


def test_a_hostile_manifest_checksum_is_a_named_mismatch(small):
    settings, _, _ = small
    store = Catalog(settings).store
    bucket = settings.bucket("products")
    key = "catalogs/phat_v2/v0001/manifest.json"
    m = json.loads(store.get_bytes(bucket, key))
    e = next(iter(m["tables"]["phot_mod"]["partitions"].values()))
    e["sha256"] = "not-a-digest"
    store.put_bytes(bucket, key, json.dumps(m).encode())
    with Catalog(settings) as cat, pytest.raises(CorruptCatalogFile, match="not-a-digest"):
        cat.query("SELECT count(*) FROM phat_v2.phot_mod")
