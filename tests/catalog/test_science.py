"""Light curves (every simulated Cepheid's period within 1 %), maps, FITS export, CLI."""

import fitsio
import numpy as np
import pytest
from astropy.table import Table

from cloudphot.catalog.commands import main, parse_angle_deg, parse_radius_arcsec
from cloudphot.catalog.fits_export import export_fits, hlsp_name
from cloudphot.catalog.lightcurve import find_period
from cloudphot.catalog.maps import healpix_map
from cloudphot.errors import DataError


def test_every_cepheid_period_within_one_percent(built):
    _, cat, survey, _ = built
    assert len(survey.variables) >= 8
    for v in survey.variables:
        objid = cat.nearest_objid(v.ra_deg, v.dec_deg, radius_arcsec=0.3)
        res = find_period(cat.lightcurve(objid))
        assert abs(res.period_d - v.period_d) / v.period_d < 0.01, (v, res)


def test_constant_star_has_no_strong_period(built):
    _, cat, survey, _ = built
    var_ids = {cat.nearest_objid(v.ra_deg, v.dec_deg, 0.3) for v in survey.variables}
    t = cat.query(
        "SELECT objid FROM phat_v2.phot_mod WHERE f814w_vega < 23 AND nfields = 1 LIMIT 20"
    )
    powers = [find_period(cat.lightcurve(o)).power for o in t["objid"] if o not in var_ids][:5]
    cep = [find_period(cat.lightcurve(o)).power for o in list(var_ids)[:3]]
    assert max(powers) < min(cep)


def test_maps(built):
    _, cat, _, result = built
    m = healpix_map(cat, "density", order=12)
    assert m.counts.sum() == result.n_objects
    assert np.all(m.values > 0)
    mm = healpix_map(cat, "mean_mag", filter="F814W", order=10)
    assert np.all((mm.values > 18) & (mm.values < 30))
    c = healpix_map(cat, "color", color="F475W-F814W", order=10)
    assert np.all(np.abs(c.values) < 5)
    with pytest.raises(DataError, match="unknown filter"):
        healpix_map(cat, "mean_mag", filter="F999W")


def test_fits_export_hlsp(built, tmp_path):
    _settings, cat, _, result = built
    assert (
        hlsp_name("phat_v2", "phot_mod", 3) == "hlsp_phat_hst_acs-wfc3_m31_multi_v3_phot-mod.fits"
    )
    keys = export_fits(cat.store, cat.bucket, cat.survey, out_dir=tmp_path)
    assert [k.rsplit("/", 1)[1] for k in keys] == [
        hlsp_name("phat_v2", t, result.version) for t in ("phot_mod", "phot_meas")
    ]
    with fitsio.FITS(str(tmp_path / keys[0].rsplit("/", 1)[1])) as f:
        assert f[1].get_nrows() == result.n_objects
        assert f[1].read_header()["CATVERS"] == result.version
        assert "f814w_vega" in f[1].get_colnames()
    with fitsio.FITS(str(tmp_path / keys[1].rsplit("/", 1)[1])) as f:
        assert f[1].get_nrows() == result.n_measurements


def test_radius_and_angle_parsing():
    assert parse_radius_arcsec("2arcsec") == pytest.approx(2)
    assert parse_radius_arcsec("1 arcmin") == pytest.approx(60)
    assert parse_radius_arcsec("0.01") == pytest.approx(36)  # bare number: degrees
    assert parse_angle_deg("0h42m44.3s", ra=True) == pytest.approx(10.6846, abs=1e-4)
    assert parse_angle_deg("41d16m09s", ra=False) == pytest.approx(41.2692, abs=1e-4)
    for bad in ("2parsec", "-1arcsec", "abc"):
        with pytest.raises(DataError):
            parse_radius_arcsec(bad)


def test_cli_commands(built, tmp_path, capsys):
    settings, cat, survey, result = built
    w = ["--workdir", str(settings.home)]
    assert main(w + ["catalog", "build"]) == 0
    assert "up to date" in capsys.readouterr().out
    out = tmp_path / "q.vot"
    assert (
        main(
            w
            + [
                "query",
                "SELECT objid, ra, dec FROM phat_v2.phot_mod LIMIT 7",
                "--format",
                "votable",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert len(Table.read(out)) == 7
    assert main(w + ["query", "SELECT count(*) AS n FROM phat_v2.phot_mod", "--format", "csv"]) == 0
    assert capsys.readouterr().out.split() == ["n", str(result.n_objects)]
    assert (
        main(
            w
            + [
                "cone",
                "10.692",
                "41.276",
                "20arcsec",
                "--format",
                "fits",
                "-o",
                str(tmp_path / "c.fits"),
            ]
        )
        == 0
    )
    assert len(Table.read(tmp_path / "c.fits")) == len(cat.cone(10.692, 41.276, 20))
    v = survey.variables[0]
    png = tmp_path / "lc.png"
    assert (
        main(w + ["lightcurve", "--ra", str(v.ra_deg), "--dec", str(v.dec_deg), "-o", str(png)])
        == 0
    )
    text = capsys.readouterr().out
    period = float(text.split("period ")[1].split()[0])
    assert abs(period - v.period_d) / v.period_d < 0.01 and png.stat().st_size > 1000
    # a filter the object lacks: the filters it has, not "no measurements" (issue 18)
    where = ["--ra", str(v.ra_deg), "--dec", str(v.dec_deg), "-o", str(png)]
    assert main(w + ["lightcurve", *where, "--filter", "F999W"]) == 2
    err = capsys.readouterr().err
    assert "has no F999W measurements; it has F475W (" in err and "F814W (" in err, err
    for q in ("density", "mean_mag", "color"):
        assert main(w + ["map", "--quantity", q, "-o", str(tmp_path / f"{q}.png")]) == 0
        assert (tmp_path / f"{q}.png").stat().st_size > 1000
        assert "$" not in capsys.readouterr().out  # no TeX in the console (arcmin², not $^2$)
    assert main(w + ["query", "DROP TABLE phat_v2.phot_mod"]) == 2
    assert "read-only" in capsys.readouterr().err
    assert main(w + ["catalog", "versions"]) == 0
    assert capsys.readouterr().out.startswith("v1 ")
