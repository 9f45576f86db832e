"""Cone search, SIA v2 and cutouts over HTTP, on simulated HST exposures."""

from __future__ import annotations

import io
import json

import httpx
import numpy as np
import pytest
import pyvo
import requests
from astropy.io import fits
from astropy.io.votable import parse
from astropy.time import Time
from astropy.wcs import WCS

from cloudphot.fits.exposure import read_exposure
from cloudphot.service.images import cutout_fits, fits_layout
from cloudphot.service.local import BackgroundServer, local_app
from cloudphot.simulate.field import simulate_field

from .conftest import LIMITS


class CountingStore:
    """Wraps an object store and counts the bytes ranged reads returned."""

    def __init__(self, inner):
        self.inner, self.range_bytes, self.whole_reads = inner, 0, 0

    def get_range(self, *args, **kwargs):
        data = self.inner.get_range(*args, **kwargs)
        self.range_bytes += len(data)
        return data

    def get_bytes(self, *args, **kwargs):
        self.whole_reads += 1
        return self.inner.get_bytes(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.fixture(scope="module")
def exposures(demo_catalog, tmp_path_factory):
    """Simulated exposures in the raw bucket and their exposures-table items."""
    _, cat, _ = demo_catalog
    sim = simulate_field(tmp_path_factory.mktemp("sim"), preset="tiny", seed=3)
    items = []
    for path in sim.exposures[:4]:
        cat.store.put_file("raw", path.name, path)
        rec = read_exposure(path).to_record()
        rec.update(bucket="raw", key=path.name)
        items.append({"exposure_id": rec["exposure_id"], "record": json.dumps(rec)})
    return items, sim


@pytest.fixture(scope="module")
def dal_url(demo_catalog, exposures):
    settings, cat, _ = demo_catalog
    app = local_app(settings, cat.store, limits=LIMITS, exposures=lambda: exposures[0])
    with BackgroundServer(app) as server:
        yield server.url


def test_cone_search_through_pyvo(dal_url, demo_catalog):
    _, cat, _ = demo_catalog
    with requests.Session() as s:
        res = pyvo.dal.SCSService(dal_url + "scs", session=s).search(
            pos=(10.68, 41.27), radius=0.004
        )
        t = res.to_table()
    want = cat.cone(10.68, 41.27, 0.004 * 3600, columns="objid")
    assert sorted(t["objid"]) == sorted(want["objid"]) and len(t) > 3
    assert res.fieldname_with_ucd("ID_MAIN") == "objid"
    assert np.all(np.diff(t["dist_deg"]) >= 0)


@pytest.mark.parametrize(
    "params, why",
    [
        ({"RA": "10", "DEC": "41"}, "required"),
        ({"RA": "10", "DEC": "95", "SR": "0.1"}, "DEC"),
        ({"RA": "10", "DEC": "41", "SR": "5"}, "SR"),
        ({"RA": "x", "DEC": "41", "SR": "1"}, "number"),
    ],
)
def test_cone_search_errors(dal_url, params, why):
    r = httpx.get(dal_url + "scs", params=params, timeout=30)
    vot = parse(io.BytesIO(r.content))
    info = [i for i in vot.resources[0].infos if i.name == "Error"]
    assert info and why in info[0].content


def test_sia_finds_the_exposures_covering_a_position(dal_url, exposures):
    items, _ = exposures
    recs = [json.loads(i["record"]) for i in items]
    ra, dec = recs[0]["pointing_ra"], recs[0]["pointing_dec"]
    with requests.Session() as s:
        svc = pyvo.dal.SIA2Service(dal_url + "sia", session=s, check_baseurl=False)
        t = svc.search(pos=(ra, dec, 0.001)).to_table()
        assert set(t["obs_id"]) == {r["exposure_id"] for r in recs}
        # far away: nothing
        assert len(svc.search(pos=(ra + 1, dec, 0.001)).to_table()) == 0
        # BAND selects by filter (F814W: ~0.7-0.96 um), TIME by MJD
        f814 = {r["exposure_id"] for r in recs if r["filter"] == "F814W"}
        got = svc.search(pos=(ra, dec, 0.001), band=(8e-7, 8.5e-7)).to_table()
        assert set(got["obs_id"]) == f814
        t0 = min(r["mjd_start"] for r in recs)
        first = svc.search(
            pos=(ra, dec, 0.001), time=(Time(t0, format="mjd"), Time(t0 + 1e-6, format="mjd"))
        ).to_table()
        assert len(first) >= 1 and min(first["t_min"]) == pytest.approx(t0)
    row = t[0]
    assert row["access_format"] == "application/fits" and row["dataproduct_type"] == "image"
    whole = httpx.get(row["access_url"], timeout=30)
    assert whole.status_code == 200 and whole.content[:6] == b"SIMPLE"


def test_sia_response_advertises_the_cutout_service(dal_url, exposures):
    rec = json.loads(exposures[0][0]["record"])
    r = httpx.get(
        dal_url + "sia", params={"POS": f"CIRCLE {rec['pointing_ra']} {rec['pointing_dec']} 0.001"}
    )
    vot = parse(io.BytesIO(r.content))
    meta = [res for res in vot.resources if res.type == "meta"]
    assert meta and {p.name: p.value for p in meta[0].params}["standardID"].endswith(
        "SODA#sync-1.0"
    )


def test_cutout_has_a_correct_wcs_and_reads_a_fraction_of_the_file(demo_catalog, exposures):
    _, cat, _ = demo_catalog
    rec = json.loads(exposures[0][0]["record"])
    store = CountingStore(cat.store)
    size = cat.store.head("raw", rec["key"]).size
    ra, dec, r = rec["pointing_ra"], rec["pointing_dec"], 0.5 / 3600
    data = cutout_fits(store, "raw", rec["key"], ra, dec, r)
    assert store.whole_reads == 0 and store.range_bytes < size / 4
    with (
        fits.open(io.BytesIO(data)) as cut,
        fits.open(store.inner.path_of("raw", rec["key"])) as full,
    ):
        sci = cut["SCI"]
        w_cut, w_full = WCS(sci.header), WCS(full["SCI"].header)
        x0 = -int(sci.header["LTV1"])
        y0 = -int(sci.header["LTV2"])
        # every cutout pixel is the original pixel it claims to be, at the same sky position
        assert np.array_equal(
            sci.data, full["SCI"].data[y0 : y0 + sci.shape[0], x0 : x0 + sci.shape[1]]
        )
        ys, xs = np.mgrid[0 : sci.shape[0] : 7, 0 : sci.shape[1] : 7]
        a = w_cut.all_pix2world(xs.ravel(), ys.ravel(), 0)
        b = w_full.all_pix2world(xs.ravel() + x0, ys.ravel() + y0, 0)
        assert np.allclose(a, b, atol=1e-10)
        # the requested circle lies inside the cutout
        cx, cy = w_cut.all_world2pix([[ra, dec]], 0)[0]
        scale = np.sqrt(abs(np.linalg.det(w_full.pixel_scale_matrix))) * 3600
        rad = 0.5 / scale
        assert rad <= cx <= sci.shape[1] - 1 - rad and rad <= cy <= sci.shape[0] - 1 - rad
        assert cut["ERR"].shape == sci.shape and cut["DQ"].shape == sci.shape


def test_cutout_over_http_and_errors(dal_url, exposures):
    rec = json.loads(exposures[0][0]["record"])
    did = "ivo://cloudphot/image?" + rec["exposure_id"]
    ok = httpx.get(
        dal_url + "cutout",
        params={"ID": did, "CIRCLE": f"{rec['pointing_ra']} {rec['pointing_dec']} 0.0005"},
        timeout=30,
    )
    assert ok.status_code == 200 and ok.headers["content-type"] == "application/fits"
    with fits.open(io.BytesIO(ok.content)) as hdul:
        hdul.verify("exception")
    for params, why in [
        ({"ID": "nope", "CIRCLE": "1 2 0.001"}, "no such image"),
        ({"ID": did, "CIRCLE": "1 2"}, "ra dec radius"),
        ({"ID": did, "CIRCLE": f"{rec['pointing_ra'] + 5} 0 0.001"}, "is not on image"),
        ({"ID": did, "CIRCLE": f"{rec['pointing_ra']} {rec['pointing_dec']} 3"}, "radius"),
        ({"CIRCLE": "1 2 0.1"}, "ID is required"),
    ]:
        r = httpx.get(dal_url + "cutout", params=params, timeout=30)
        assert r.status_code == 400 and why in r.text, (params, r.text)


def test_headers_are_read_without_the_pixels(demo_catalog, exposures):
    _, cat, _ = demo_catalog
    rec = json.loads(exposures[0][0]["record"])
    store = CountingStore(cat.store)
    layout = fits_layout(store, "raw", rec["key"])
    assert [h.header.get("EXTNAME", "PRIMARY").strip() for h in layout][:4] == [
        "PRIMARY",
        "SCI",
        "ERR",
        "DQ",
    ]
    assert store.range_bytes <= 2880 * 40


def test_a_truncated_file_is_a_data_error(demo_catalog, exposures):
    from cloudphot.errors import DataError

    _, cat, _ = demo_catalog
    rec = json.loads(exposures[0][0]["record"])
    raw = cat.store.get_bytes("raw", rec["key"])
    cat.store.put_bytes("raw", "broken.fits", raw[:5000])
    with pytest.raises(DataError, match="truncated"):
        cutout_fits(cat.store, "raw", "broken.fits", rec["pointing_ra"], rec["pointing_dec"], 1e-3)
