"""Publication of a catalog version is a compare-and-swap: racing builds never lose one."""

from __future__ import annotations

import json
import threading
import time

import pytest

from cloudphot.catalog import build as build_mod
from cloudphot.catalog.api import Catalog
from cloudphot.catalog.build import ConcurrentBuild, latest_version, read_manifest
from cloudphot.catalog.integrity import verify_version
from cloudphot.catalog.synthetic import FieldSpec, write_field
from cloudphot.errors import DataError, TransientError

from .conftest import make_workspace


def _two_new_fields(cat, bucket):
    for fid, ra in (("b20_f01", 11.3), ("b21_f01", 11.6)):
        write_field(
            cat.store,
            bucket,
            FieldSpec(fid, ra, 41.9, 30.0),
            filters=["F475W", "F814W"],
            epochs_per_filter=2,
            density=0.02,
        )


@pytest.fixture
def ws(tmp_path):
    settings, cat, _ = make_workspace(
        tmp_path, n_fields_ra=1, density_per_arcsec2=0.02, epochs_per_filter=2
    )
    bucket = settings.bucket("products")
    assert cat.build().version == 1
    _two_new_fields(cat, bucket)
    yield settings, cat, bucket
    cat.close()


def test_two_racing_builds_publish_one_version_the_other_retries(ws, monkeypatch):
    _settings, cat, bucket = ws
    # both builds read the pointer before either claims a version
    barrier = threading.Barrier(2)
    real = build_mod._latest_with_etag

    def read_then_wait(*args):
        out = real(*args)
        barrier.wait(timeout=60)
        return out

    monkeypatch.setattr(build_mod, "_latest_with_etag", read_then_wait)
    results, errors = {}, {}

    def run(fid):
        try:
            results[fid] = build_mod.build_catalog(cat.store, bucket, "phat_v2", [fid])
        except Exception as exc:
            errors[fid] = exc

    threads = [threading.Thread(target=run, args=(f,)) for f in ("b20_f01", "b21_f01")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 1 and len(errors) == 1, (results, errors)
    (winner, res), (loser, err) = next(iter(results.items())), next(iter(errors.items()))
    assert isinstance(err, ConcurrentBuild) and isinstance(err, TransientError)
    assert "version 2" in str(err)
    assert res.version == 2 and latest_version(cat.store, bucket, "phat_v2") == 2
    m2 = read_manifest(cat.store, bucket, "phat_v2", 2)
    assert winner in m2["fields"] and loser not in m2["fields"]
    assert verify_version(cat.store, bucket, m2).ok
    # the retry starts from the published version and keeps both fields
    monkeypatch.setattr(build_mod, "_latest_with_etag", real)
    again = build_mod.build_catalog(cat.store, bucket, "phat_v2", [loser])
    assert (again.version, again.parent) == (3, 2)
    m3 = read_manifest(cat.store, bucket, "phat_v2", 3)
    assert {winner, loser} <= set(m3["fields"])


def test_a_pointer_moved_during_the_build_publishes_nothing(ws, monkeypatch):
    _settings, cat, bucket = ws
    real_claim = build_mod._claim
    key = "catalogs/phat_v2/LATEST.json"

    def claim_then_someone_publishes(store, b, layout, version):
        out = real_claim(store, b, layout, version)
        store.put_bytes(b, key, json.dumps({"version": 1, "by": "another build"}).encode())
        return out

    monkeypatch.setattr(build_mod, "_claim", claim_then_someone_publishes)
    with pytest.raises(ConcurrentBuild, match="nothing was published"):
        build_mod.build_catalog(cat.store, bucket, "phat_v2", ["b20_f01"])
    assert json.loads(cat.store.get_bytes(bucket, key))["by"] == "another build"
    # a build that failed released its claim: the next one makes the version at once
    claim = json.loads(cat.store.get_bytes(bucket, "catalogs/phat_v2/v0002/_claim.json"))
    assert claim["released"] is True
    monkeypatch.setattr(build_mod, "_claim", real_claim)
    assert build_mod.build_catalog(cat.store, bucket, "phat_v2", ["b20_f01"]).version == 2


def test_a_crashed_builds_claim_is_taken_over_after_its_lease(ws, monkeypatch, caplog):
    _settings, cat, bucket = ws
    claim = "catalogs/phat_v2/v0002/_claim.json"
    cat.store.put_bytes(bucket, claim, json.dumps({"build": "x", "started": time.time()}).encode())
    with pytest.raises(ConcurrentBuild, match="another build is making version 2"):
        build_mod.build_catalog(cat.store, bucket, "phat_v2", ["b20_f01"])
    assert latest_version(cat.store, bucket, "phat_v2") == 1
    old = time.time() - build_mod.CLAIM_LEASE_S - 1
    cat.store.put_bytes(bucket, claim, json.dumps({"build": "x", "started": old}).encode())
    res = build_mod.build_catalog(cat.store, bucket, "phat_v2", ["b20_f01"])
    assert res.version == 2 and "took over version 2" in caplog.text
    # an unreadable claim is no live build either
    cat.store.put_bytes(bucket, "catalogs/phat_v2/v0003/_claim.json", b"\x00garbage")
    assert build_mod.build_catalog(cat.store, bucket, "phat_v2", ["b21_f01"]).version == 3


@pytest.mark.parametrize(
    "body", [b"", b"not json", b'{"v": 1}', b'{"version": "2"}', b'{"version": -1}', b"[1]"]
)
def test_a_hostile_pointer_is_a_data_error_naming_it(ws, body):
    settings, cat, bucket = ws
    cat.store.put_bytes(bucket, "catalogs/phat_v2/LATEST.json", body)
    with pytest.raises(DataError, match="LATEST.json is not a catalog version pointer"):
        latest_version(cat.store, bucket, "phat_v2")
    with pytest.raises(DataError, match="LATEST.json"):
        Catalog(settings).build()
