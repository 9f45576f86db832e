"""Shared set-up of the fault-injection suite: one simulated tiny field, one clean run.

Every scenario reduces the same field under a fault and must end with a catalog
identical (same rows, same values) to the clean run's, with nothing lost and no
job run twice that should not have been.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest


@dataclass
class Field:
    sim: object
    manifest: Path

    @property
    def field_id(self) -> str:
        return self.sim.field_id


@pytest.fixture(scope="session")
def tiny_field(tmp_path_factory) -> Field:
    from cloudphot.simulate.field import simulate_field

    out = tmp_path_factory.mktemp("tiny-field")
    sim = simulate_field(out, preset="tiny", seed=3)
    manifest = out / "manifests" / f"{sim.field_id}.json"
    manifest.parent.mkdir()
    manifest.write_text(
        json.dumps(
            {"field_id": sim.field_id, "exposures": [p.name.split("_")[0] for p in sim.exposures]}
        )
    )
    return Field(sim, manifest)


def make_runtime(home: Path, **kwargs):
    from cloudphot.runtime.local import LocalRuntime
    from cloudphot.settings import Settings

    settings = Settings.from_env(home=home, backend="local", env={})
    rt = LocalRuntime(
        settings,
        project_root=Path(__file__).resolve().parents[2],
        sleep=kwargs.pop("sleep", lambda s: None),
        **kwargs,
    )
    rt.register()
    return rt


def upload_field(rt, field: Field, *, order: str = "shuffled", seed: int = 0) -> None:
    """Put the field's exposures and manifest into the raw bucket, in the given order."""
    raw = rt.settings.bucket("raw")
    items = [(p.name, p) for p in field.sim.exposures]
    random.Random(seed).shuffle(items)
    manifest = (f"manifests/{field.manifest.name}", field.manifest)
    items = [manifest, *items] if order == "manifest_first" else [*items, manifest]
    for key, path in items:
        rt.objects.put_file(raw, key, path)


def field_catalog(rt, field_id: str):
    from astropy.table import Table

    from cloudphot.products import keys

    path = rt.settings.buckets_dir / rt.settings.bucket("products") / keys.field_catalog(field_id)
    assert path.exists(), f"no catalog for {field_id}: the field was not reduced"
    return Table.read(path)


def assert_same_catalog(a, b) -> None:
    assert a.colnames == b.colnames
    assert len(a) == len(b)
    for c in a.colnames:
        x, y = np.asarray(a[c]), np.asarray(b[c])
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), f"column {c} differs"


@pytest.fixture(scope="session")
def clean_run(tiny_field, tmp_path_factory):
    """(workspace, catalog) of one clean reduction of the tiny field."""
    home = tmp_path_factory.mktemp("clean")
    rt = make_runtime(home)
    try:
        upload_field(rt, tiny_field)
        rt.run()
        return home, field_catalog(rt, tiny_field.field_id)
    finally:
        rt.close()


@pytest.fixture(scope="session")
def clean_catalog(clean_run):
    return clean_run[1]
