"""Unchanged partitions of a new catalog version: server-side copies, footers by ranged reads."""

from __future__ import annotations

import io
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cloudphot.catalog.build import SRC_SCHEMA, read_manifest
from cloudphot.catalog.hats import (
    FOOTER_READ_BYTES,
    partition_key,
    read_parquet_footer,
    write_hats_metadata,
)
from cloudphot.catalog.schema import PHOT_MEAS, PHOT_MOD, arrow_schema
from cloudphot.catalog.synthetic import FieldSpec, write_field
from cloudphot.errors import DataError
from cloudphot.runtime.local_objects import LocalObjectStore

from .conftest import make_workspace

BUCKET = "products-bucket"


@pytest.fixture
def store(tmp_path):
    return LocalObjectStore(tmp_path / "buckets")


def spy(monkeypatch, store, name):
    """Record the (key, args) of every call of ``store.<name>``; the calls still happen."""
    calls = []
    real = getattr(store, name)

    def record(bucket, key, *args, **kwargs):
        calls.append((key, args))
        return real(bucket, key, *args, **kwargs)

    monkeypatch.setattr(store, name, record)
    return calls


def parquet_bytes(n_rows: int, n_cols: int, row_group: int) -> bytes:
    rng = np.random.default_rng(1)
    table = pa.table({f"c{i}": rng.random(n_rows) for i in range(n_cols)})
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=row_group)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("n_rows", "n_cols", "row_group", "reads"),
    [
        (1000, 3, 100, 1),  # a small footer: the first read holds it
        (0, 2, 100, 1),  # no rows at all
        (20_000, 40, 100, 2),  # 200 row groups x 40 columns: a footer over 64 KiB, two reads
    ],
)
def test_footer_from_ranged_reads_equals_the_whole_files(
    store, monkeypatch, n_rows, n_cols, row_group, reads
):
    data = parquet_bytes(n_rows, n_cols, row_group)
    store.put_bytes(BUCKET, "t/part.parquet", data)
    ranges = spy(monkeypatch, store, "get_range")
    md = read_parquet_footer(store, BUCKET, "t/part.parquet")
    whole = pq.read_metadata(pa.BufferReader(data))
    assert md.equals(whole) and md.to_dict() == whole.to_dict()
    assert len(ranges) == reads
    footer = int.from_bytes(data[-8:-4], "little")
    assert (footer + 8 > FOOTER_READ_BYTES) == (reads == 2)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "does not end with"),
        (b"PAR1", "does not end with"),
        (b"a CSV file, not Parquet\n", "does not end with"),
        (b"PAR1" + b"x" * 10 + (1000).to_bytes(4, "little") + b"PAR1", "exceeds the file"),
        (b"PAR1" + b"x" * 10 + (10).to_bytes(4, "little") + b"PAR1", "corrupt Parquet footer"),
    ],
)
def test_not_parquet_is_a_data_error_naming_the_object(store, data, reason):
    store.put_bytes(BUCKET, "t/bad.parquet", data)
    with pytest.raises(DataError, match=reason) as err:
        read_parquet_footer(store, BUCKET, "t/bad.parquet")
    assert f"s3://{BUCKET}/t/bad.parquet" in str(err.value)


def test_unchanged_partitions_are_hard_links_and_are_not_read(tmp_path, monkeypatch):
    settings, cat, _ = make_workspace(
        tmp_path, n_fields_ra=2, density_per_arcsec2=0.03, epochs_per_filter=3
    )
    bucket = settings.bucket("products")
    r1 = cat.build()
    write_field(
        cat.store,
        bucket,
        FieldSpec("b20_f01", 11.3, 41.9, 40.0),
        filters=["F475W", "F814W"],
        epochs_per_filter=3,
        density=0.03,
    )
    whole = spy(monkeypatch, cat.store, "get_bytes")
    ranges = spy(monkeypatch, cat.store, "get_range")
    r2 = cat.build()
    assert r2.version == 2 and set(r2.copied["phot_mod"]) == set(r1.rewritten["phot_mod"])
    m1, m2 = (
        read_manifest(cat.store, bucket, "phat_v2", 1),
        read_manifest(cat.store, bucket, "phat_v2", 2),
    )
    copied_keys = []
    for table, parts in r2.copied.items():
        assert parts, table
        for p in parts:
            old = m1["tables"][table]["partitions"][str(p)]["key"]
            # the manifest shares the first version's object; the second version's
            # HATS tree (for LSDB) holds a hard link to it: one file, two keys
            assert m2["tables"][table]["partitions"][str(p)]["key"] == old
            new = m2["tables"][table]["prefix"] + partition_key(m2["partition_order"], p)
            assert new.startswith("catalogs/phat_v2/v0002/")
            a, b = os.stat(cat.store.path_of(bucket, old)), os.stat(cat.store.path_of(bucket, new))
            assert (a.st_ino, a.st_dev) == (b.st_ino, b.st_dev)
            copied_keys += [old, new]
    read = {key for key, _ in whole}
    assert not read & set(copied_keys), "the build read an unchanged partition whole"
    # footers: at most two ranged reads of each copy, each a suffix of at most 64 KiB
    per_key: dict[str, int] = {}
    for key, (start, *_) in ranges:
        assert key in copied_keys and -FOOTER_READ_BYTES <= start < 0
        per_key[key] = per_key.get(key, 0) + 1
    assert per_key and max(per_key.values()) <= 2
    # and the second version's _metadata is byte for byte what footers read whole give
    schemas = {
        "phot_mod": arrow_schema(PHOT_MOD),
        "phot_meas": arrow_schema(PHOT_MEAS),
        "phot_src": SRC_SCHEMA,
    }
    for table, schema in schemas.items():
        parts = m2["tables"][table]["partitions"]
        footers = {
            int(p): pq.read_metadata(cat.store.path_of(bucket, e["key"])) for p, e in parts.items()
        }
        write_hats_metadata(
            cat.store,
            bucket,
            f"scratch/{table}/",
            name="x",
            catalog_type="x",
            order=m2["partition_order"],
            schema=schema,
            partitions=footers,
        )
        for name in ("_metadata", "_common_metadata"):
            built = cat.store.get_bytes(bucket, m2["tables"][table]["prefix"] + "dataset/" + name)
            assert built == cat.store.get_bytes(bucket, f"scratch/{table}/dataset/{name}"), name
    cat.close()


def test_measurements_sharing_a_spatial_index_are_in_a_fixed_order(built):
    """Rows sharing a _healpix_29 are ordered by (field, exposure, star): DuckDB's
    parallel sort alone is not stable, and rebuilt partitions then differed byte-wise."""
    _, cat, _, _ = built
    ties = 0
    for f in cat.engine.files("phot_meas"):
        t = pq.read_table(f, columns=["_healpix_29", "field_id", "exposure_id", "star_id"])
        keys = list(zip(*(t.column(c).to_pylist() for c in t.column_names)))
        assert keys == sorted(keys), f
        hp = t.column("_healpix_29").to_numpy()
        ties += int((hp[1:] == hp[:-1]).sum())
    assert ties > 0  # the fixture has repeated positions, so the order is exercised
