"""The product target, on both object stores: complete = present and made from these inputs."""

from __future__ import annotations

from cloudphot.products import fingerprint
from cloudphot.storage import Target

BUCKETS = ("raw-bucket", "products-bucket")  # the buckets tests/storage/conftest.py makes


def test_a_target_is_complete_only_when_written_from_the_same_inputs(object_store, tmp_path):
    bucket = BUCKETS[0]
    inputs = fingerprint({"exposure": ["raw", "a_flc.fits", "etag-1"], "photometry": None})
    target = Target(object_store, bucket, "exposures/a/prep.fits", inputs)
    assert not target.exists()
    path = tmp_path / "prep.fits"
    path.write_bytes(b"SIMPLE  =  T")
    target.write_file(path)
    assert target.exists() and target.read_bytes() == b"SIMPLE  =  T"
    # the same key from changed inputs (another upload, other options) is not complete
    changed = Target(object_store, bucket, target.key, fingerprint({"exposure": "etag-2"}))
    assert not changed.exists()
    changed.write_json({"n": 1})
    assert changed.exists() and not target.exists() and changed.read_json() == {"n": 1}
    # an object written some other way (no recorded inputs) completes only an input-less target
    object_store.put_bytes(bucket, "plain.json", b"{}")
    assert Target(object_store, bucket, "plain.json").exists()
    assert not Target(object_store, bucket, "plain.json", inputs).exists()


def test_put_file_keeps_user_metadata(object_store, tmp_path):
    path = tmp_path / "x.bin"
    path.write_bytes(b"x" * 10)
    object_store.put_file(BUCKETS[0], "x.bin", path, metadata={"cloudphot-inputs": "abc"})
    assert object_store.metadata(BUCKETS[0], "x.bin")[1] == {"cloudphot-inputs": "abc"}


def test_fingerprints_ignore_key_order_and_see_every_value():
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2}) != fingerprint({"a": "1"})
    assert len(fingerprint("x")) == 20 and len(fingerprint("x", 10)) == 10
