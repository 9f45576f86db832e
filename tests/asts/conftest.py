"""A reduced tiny simulated field (the engine's products, as the photometry job keeps them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class Reduced:
    sim: object
    exposures: list[Path]
    prepared: dict[str, Path]
    catalog: object
    model: object


@pytest.fixture(scope="session")
def reduced_tiny(tmp_path_factory) -> Reduced:
    from cloudphot.asts.model import model_arrays, read_model, write_model
    from cloudphot.photometry import reduce_field
    from cloudphot.photometry.exposure import load_exposure
    from cloudphot.simulate.field import simulate_field

    out = tmp_path_factory.mktemp("asts-tiny")
    sim = simulate_field(out / "sim", preset="tiny", seed=3)
    red = reduce_field(sim.exposures, workdir=out / "work")
    exps = [load_exposure(p) for p in sim.exposures]
    radius = max(p.grid.radius for p in red.psfs if p is not None)
    path = write_model(model_arrays(red, exps, radius), out / "model.npz")
    prepared = {e.path.name: out / "work" / "prep" / f"{e.rootname}_prep.fits" for e in exps}
    return Reduced(sim, list(sim.exposures), prepared, red.catalog, read_model(path.read_bytes()))
