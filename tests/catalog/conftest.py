"""Shared fixtures: a small synthetic survey built once per session (read-only for tests)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from cloudphot.catalog import shapes
from cloudphot.catalog.api import Catalog
from cloudphot.catalog.synthetic import FieldSpec, make_survey
from cloudphot.settings import Settings

#: the seed paper's cone query looks here; a pinned star makes sure it finds rows
PAPER_RA, PAPER_DEC = 11.02203, 41.23451


def make_workspace(path, **kwargs):
    settings = Settings.from_env(home=path, env={})
    cat = Catalog(settings)
    survey = make_survey(cat.store, settings.bucket("products"), **kwargs)
    return settings, cat, survey


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """(settings, catalog, survey truth, build result) of two overlapping fields + one far away."""
    path = tmp_path_factory.mktemp("catalog")
    settings, cat, survey = make_workspace(
        path,
        n_fields_ra=2,
        density_per_arcsec2=0.05,
        epochs_per_filter=30,
        cepheid_fraction=0.03,
        extra_fields=(FieldSpec("b16_f01", PAPER_RA, PAPER_DEC, 40.0),),
        pinned=((PAPER_RA + 0.05 / 3600, PAPER_DEC),),
    )
    result = cat.build()
    yield settings, cat, survey, result
    cat.close()


@pytest.fixture(autouse=True)
def _verify_shape_plans(monkeypatch):
    """Every query these tests plan is planned the ordinary way too, and must agree."""
    monkeypatch.setattr(shapes, "VERIFY", True)


_SPARSE = Path(__file__).resolve().parents[2] / "benchmarks" / "sparse_sky.py"


def load_sparse_sky():
    """benchmarks/sparse_sky.py as a module (the second catalog shape's generator)."""
    spec = importlib.util.spec_from_file_location("sparse_sky", _SPARSE)
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("sparse_sky", mod)  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def sparse(tmp_path_factory):
    """The sparse sky, ~12k objects, partitioned at order 7 (27' partitions); read-only."""
    path = tmp_path_factory.mktemp("sparse")
    settings = Settings.from_env(home=path, env={})
    cat = Catalog(settings)
    load_sparse_sky().write_sparse_sky(
        cat.store, settings.bucket("products"), n_objects=12_000, epochs=2, seed=15
    )
    cat.build(partition_order=7)
    yield cat
    cat.close()
