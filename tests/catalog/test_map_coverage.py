"""Issue 18 item 6: a density map of one field divides by the sky the exposures cover.

One synthetic field of known, uniform density (3,600 stars/arcmin²) with its exposure
footprint on record in the exposures table, as ingest leaves it. Whole-pixel areas
made the field's edge pixels show a fraction of the true density (2,291 and 72 where
the sky held ~4,700); per covered area every pixel agrees with the truth.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from cloudphot.catalog import maps
from cloudphot.catalog.commands import main
from cloudphot.catalog.synthetic import M31_DEC_DEG, FieldSpec

from .conftest import make_workspace

DENSITY = 1.0  # stars / arcsec²
SIZE = 150.0  # arcsec: a field that cuts several order-12 pixels (51" on a side)
#: off the grid of order-12 pixels, so the edges cut pixels
SPEC = FieldSpec("b21_f07", 11.0123, 41.2345, SIZE)


def _box(spec: FieldSpec) -> list[list[float]]:
    cosd = math.cos(math.radians(M31_DEC_DEG))
    half = spec.size_arcsec / 2 / 3600
    ra_lo, ra_hi = spec.ra_deg - half / cosd, spec.ra_deg + half / cosd
    dec_lo, dec_hi = spec.dec_deg - half, spec.dec_deg + half
    return [[ra_lo, dec_lo], [ra_hi, dec_lo], [ra_hi, dec_hi], [ra_lo, dec_hi]]


@pytest.fixture(scope="module")
def one_field(tmp_path_factory):
    path = tmp_path_factory.mktemp("one-field")
    _settings, cat, _ = make_workspace(
        path,
        n_fields_ra=0,
        extra_fields=(SPEC,),
        density_per_arcsec2=DENSITY,
        epochs_per_filter=1,
    )
    cat.build()
    # what ingest records for each exposure: its chips' footprints (here one box chip)
    record = {"exposure_id": "jmap01aaq", "field_id": SPEC.field_id, "footprint": [_box(SPEC)]}
    cat.platform.tables.put(
        "exposures",
        {
            "exposure_id": "jmap01aaq",
            "field_id": SPEC.field_id,
            "mjd": 56000.0,
            "record": json.dumps(record),
        },
    )
    yield path, cat
    cat.close()


def test_every_pixel_shows_the_density_of_the_sky_it_covers(one_field):
    _, cat = one_field
    m = maps.healpix_map(cat, "density")
    truth = DENSITY * 3600  # per arcmin²
    assert m.order == 12  # the finest the catalog's pix4096 gives, for one field
    assert m.coverage is not None and len(m.pixels) >= 9
    assert (m.coverage < 0.9).sum() >= 4  # the edges cut pixels: the case at hand
    area = m.covered_arcmin2
    assert area == pytest.approx((SIZE / 60) ** 2, rel=0.03)
    for value, n, frac in zip(m.values, m.counts, m.coverage):
        if frac < 0.05:
            continue  # a sliver: too few stars to say
        sigma = truth / math.sqrt(n)
        assert abs(value - truth) < 5 * sigma + 0.03 * truth, (value, n, frac)
    assert m.counts.sum() / area == pytest.approx(truth, rel=0.03)


def test_without_footprints_the_map_says_its_edges_are_diluted(one_field):
    _, cat = one_field
    m = maps.healpix_map(cat, "density", footprint=[])
    assert m.coverage is None and "footprints unknown" in m.label
    assert m.values.min() < 0.5 * DENSITY * 3600  # what the whole-pixel areas give


def test_the_order_follows_the_footprint():
    tiny = [np.array(_box(SPEC))]
    assert maps.default_order(tiny) == 12
    survey = [np.array(_box(FieldSpec("big", 11.0, 41.0, 4 * 3600)))]  # 16 deg²
    order = maps.default_order(survey)
    assert order < 12
    assert 16 / maps.ids._healpix(order).pixel_area.to_value("deg2") <= 4000


def test_map_command_prints_the_covered_area_and_clips_the_plot(one_field, tmp_path, capsys):
    path, _ = one_field
    out = tmp_path / "d.png"
    assert main(["--workdir", str(path), "map", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "pixels at order 12 over the 6.25 arcmin² the exposures cover" in text, text
    assert "stars / arcmin²" in text and out.stat().st_size > 0
    mean, span = text.split("density mean ")[1].split(" stars")[0].split(", ")
    assert float(mean) == pytest.approx(DENSITY * 3600, rel=0.03), text
    lo, hi = (float(v) for v in span.split(" .. "))
    assert 0.85 * DENSITY * 3600 < lo <= hi < 1.15 * DENSITY * 3600, text
