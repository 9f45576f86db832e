"""phot_visit, phot_pm and phot_var: visits from rootnames, frame ties, motions, variability.

The catalog-level truth here is synthetic measurements (cloudphot.catalog.synthetic)
altered where a test needs it: an exposure displaced on the sky (a visit whose
astrometry is off), stars given known motions, a visit with one exposure, NaN
positions. The simulator's end-to-end truth (images through photometry) is in
tests/simulate/test_motions.py.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cloudphot.catalog.api import Catalog
from cloudphot.catalog.synthetic import FieldSpec, write_field
from cloudphot.catalog.visits import best_period, visit_ids
from cloudphot.errors import DataError, QueryRefused
from cloudphot.products import keys
from cloudphot.settings import Settings

RA0, DEC0 = 10.70, 41.30
YEAR = 365.25


def test_visit_is_program_and_visit_of_the_rootname():
    got = visit_ids(["j9ec41aiq", "j9ec41ajq", "i9ec41b1q", "j9ec42aiq"])
    # ACS (j) and WFC3 (i) exposures of one visit share it; the next visit does not
    assert list(got) == ["9ec41", "9ec41", "9ec41", "9ec42"]


@pytest.mark.parametrize(
    "bad", ["j9ec41", "j9ec41aiqx", "exposure-7", "a", "j9ec4-aiq", "j9ec41ai"]
)
def test_an_id_that_is_not_a_rootname_is_its_own_visit(bad):
    # never combined with another exposure on a guess
    assert list(visit_ids([bad, "j9ec41aiq"])) == [bad, "9ec41"]


def test_best_period_finds_a_known_period():
    rng = np.random.default_rng(3)
    t = np.sort(rng.uniform(0, 400, 30))
    y = 0.4 * np.sin(2 * np.pi * t / 7.3) + rng.normal(0, 0.03, 30)
    period, power = best_period(t, y, np.full(30, 0.03))
    assert abs(period - 7.3) / 7.3 < 0.01 and power > 0.8
    assert math.isnan(best_period(t[:3] * 0.001, y[:3], np.full(3, 0.03))[0])


# ---------------------------------------------------------------- the session survey
def test_phot_visit_is_one_row_per_object_visit_filter_and_field(built):
    settings, cat, _survey, result = built
    s = settings.survey
    meas = cat.query(
        f"SELECT count(*) AS n, count(DISTINCT (objid, field_id, visit_id, filter)) AS k "
        f"FROM {s}.phot_meas"
    )
    vis = cat.query(f"SELECT count(*) AS n, sum(nexp) AS nexp FROM {s}.phot_visit")
    assert int(vis["n"][0]) == int(meas["k"][0]) == result.derived_rows["phot_visit"]
    assert int(vis["nexp"][0]) == int(meas["n"][0])
    # each synthetic epoch is one visit with one exposure: MJD span 0
    one = cat.query(f"SELECT max(mjd_max - mjd_min) AS span, max(nexp) AS n FROM {s}.phot_visit")
    assert float(one["span"][0]) == 0 and int(one["n"][0]) == 1
    # the small far field has too few bright stars to tie its visits: left untied, its
    # positions get no error and no motion is fitted from them
    untied = cat.query(
        f"SELECT DISTINCT field_id, count(pos_err) AS with_err FROM {s}.phot_visit "
        f"WHERE tie_nstar = 0 GROUP BY field_id"
    )
    assert list(untied["field_id"]) == ["b16_f01"] and int(untied["with_err"][0]) == 0
    assert result.frame_tie["visits_tied"] > 0 and result.frame_tie["visits_untied"] > 0


def test_phot_visit_answers_sql_and_adql_cones(built):
    settings, cat, _survey, _ = built
    s = settings.survey
    row = cat.query(f"SELECT ra, dec FROM {s}.phot_visit ORDER BY snr DESC LIMIT 1")
    ra, dec = float(row["ra"][0]), float(row["dec"][0])
    q3c = cat.query(
        f"SELECT count(*) AS n FROM {s}.phot_visit "
        f"WHERE q3c_radial_query(ra, dec, {ra}, {dec}, 2.0 / 3600)"
    )
    adql = cat.query(
        f"SELECT count(*) AS n FROM {s}.phot_visit WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), "
        f"CIRCLE('ICRS', {ra}, {dec}, 2.0 / 3600))"
    )
    assert int(q3c["n"][0]) == int(adql["n"][0]) >= 1
    assert len(cat.cone(ra, dec, 2.0, table="phot_visit")) == int(q3c["n"][0])


def test_the_cepheids_rank_at_the_top_of_var_chi2(built):
    settings, cat, survey, _ = built
    s = settings.survey
    ranked = cat.query(
        f"SELECT v.objid, max(v.var_chi2) AS chi2, max(v.var_iqr_norm) AS iqr "
        f"FROM {s}.phot_var v GROUP BY v.objid ORDER BY chi2 DESC"
    )
    ceph = {cat.nearest_objid(v.ra_deg, v.dec_deg, 0.3) for v in survey.variables}
    n = len(ceph)
    assert n >= 3
    top = set(np.asarray(ranked["objid"][:n]).tolist())
    assert top == ceph
    by_iqr = np.argsort(-np.asarray(ranked["iqr"], float))
    assert set(np.asarray(ranked["objid"])[by_iqr[:n]].tolist()) == ceph


def test_the_cepheids_periods_are_found(built):
    settings, cat, survey, _ = built
    s = settings.survey
    good = 0
    for v in survey.variables:
        objid = cat.nearest_objid(v.ra_deg, v.dec_deg, 0.3)
        t = cat.query(
            f"SELECT var_period FROM {s}.phot_var WHERE objid = {objid} AND filter = 'F475W'"
        )
        good += abs(float(t["var_period"][0]) - v.period_d) / v.period_d < 0.02
    assert good >= 0.8 * len(survey.variables)


def test_constant_stars_have_motions_consistent_with_zero(built):
    settings, cat, _survey, _ = built
    t = cat.query(
        f"SELECT pm_ra_cosdec / pm_ra_cosdec_err AS zx, pm_dec / pm_dec_err AS zy "
        f"FROM {settings.survey}.phot_pm"
    )
    z = np.abs(np.concatenate([np.asarray(t["zx"], float), np.asarray(t["zy"], float)]))
    assert len(z) > 100 and np.mean(z < 2) >= 0.95


def test_a_version_without_the_tables_says_how_to_get_them(built, tmp_path):
    settings, cat, _survey, _ = built
    from cloudphot.catalog.query import QueryEngine

    engine = QueryEngine(cat.store, settings.bucket("products"), settings.survey)
    try:
        del engine._parts["phot_pm"]  # as a manifest written before phot_pm existed
        with pytest.raises(QueryRefused, match="predates table phot_pm.*catalog build"):
            engine.run(f"SELECT * FROM {settings.survey}.phot_pm")
    finally:
        engine.close()


# ---------------------------------------------------------------- crafted fields
def _workspace(tmp_path):
    settings = Settings.from_env(home=tmp_path, env={})
    return settings, Catalog(settings)


def _field(cat, settings, fid="b20_f01", **kw):
    spec = FieldSpec(fid, RA0, DEC0, 60.0)
    args = dict(
        filters=["F475W", "F814W"],
        epochs_per_filter=12,
        density=0.05,
        seed=5,
        cepheid_fraction=0.0,
        baseline_d=3 * YEAR,
        dec0=DEC0,
    )
    args.update(kw)
    write_field(cat.store, settings.bucket("products"), spec, **args)
    return spec


def _rewrite_measurements(cat, settings, fid, change):
    bucket = settings.bucket("products")
    key = keys.field_measurements(fid)
    with cat.store.local_path(bucket, key) as path:
        t = pq.read_table(path)
    t = change(t)
    out = settings.home / f"{fid}-m.parquet"
    pq.write_table(t, out)
    cat.store.put_file(bucket, key, out)


def _set(t: pa.Table, name: str, values) -> pa.Table:
    i = t.schema.get_field_index(name)
    return t.set_column(i, name, pa.array(values, t.schema.field(name).type))


def test_motions_are_recovered_and_a_displaced_visit_is_tied_back(tmp_path):
    settings, cat = _workspace(tmp_path)
    _field(cat, settings)
    rng = np.random.default_rng(11)
    truth = {}

    def move(t):
        star = t.column("star_id").to_numpy()
        mjd = t.column("mjd").to_numpy()
        ra = t.column("ra").to_numpy().copy()
        dec = t.column("dec").to_numpy().copy()
        movers = np.unique(star)[::6]  # a sixth of the stars move, 20-60 mas/yr
        for s in movers:
            amp, ang = rng.uniform(20, 60), rng.uniform(0, 2 * np.pi)
            truth[int(s)] = (amp * np.cos(ang), amp * np.sin(ang))
        ref = np.median(np.unique(mjd))
        pmx = np.array([truth.get(int(s), (0, 0))[0] for s in star])
        pmy = np.array([truth.get(int(s), (0, 0))[1] for s in star])
        dt = (mjd - ref) / YEAR
        dec_new = dec + pmy * dt / 3.6e6
        ra_new = ra + pmx * dt / 3.6e6 / np.cos(np.radians(dec))
        # one exposure's astrometry is off by (+40, -25) mas: the frame tie must undo it
        e = t.column("exposure_id").to_numpy(zero_copy_only=False)
        off = e == sorted(set(e))[3]
        ra_new[off] += 40 / 3.6e6 / np.cos(np.radians(dec[off]))
        dec_new[off] -= 25 / 3.6e6
        t = _set(t, "ra", ra_new)
        return _set(t, "dec", dec_new), sorted(set(e))[3]

    displaced = {}

    def change(t):
        t, eid = move(t)
        displaced["eid"] = eid
        return t

    _rewrite_measurements(cat, settings, "b20_f01", change)
    result = cat.build()
    s = settings.survey
    tie = cat.query(
        f"SELECT DISTINCT visit_id, filter, tie_dra, tie_ddec, tie_nstar, tie_rms "
        f"FROM {s}.phot_visit"
    )
    vid = visit_ids([displaced["eid"]])[0]
    row = [i for i, v in enumerate(tie["visit_id"]) if v == vid]
    assert len(row) == 1
    i = row[0]
    assert abs(float(tie["tie_dra"][i]) + 40) < 3 and abs(float(tie["tie_ddec"][i]) - 25) < 3
    assert int(tie["tie_nstar"][i]) >= 5
    others = np.delete(np.asarray(tie["tie_dra"], float), i)
    assert np.max(np.abs(others)) < 3
    assert result.frame_tie["max_rms_mas"] < 20

    pm = cat.query(
        f"SELECT p.objid, p.pm_ra_cosdec, p.pm_ra_cosdec_err, p.pm_dec, p.pm_dec_err, "
        f"p.pm_baseline, m.f814w_snr FROM {s}.phot_pm p JOIN {s}.phot_mod m USING (objid)"
    )
    star_of = _star_ids(cat, settings)
    z_moving, z_constant = [], []
    for k in range(len(pm)):
        sid = star_of[int(pm["objid"][k])]
        tx, ty = truth.get(sid, (0.0, 0.0))
        zx = (float(pm["pm_ra_cosdec"][k]) - tx) / float(pm["pm_ra_cosdec_err"][k])
        zy = (float(pm["pm_dec"][k]) - ty) / float(pm["pm_dec_err"][k])
        if float(pm["f814w_snr"][k]) < 20:
            continue
        (z_moving if sid in truth else z_constant).extend([abs(zx), abs(zy)])
    print(
        f"moving {len(z_moving) // 2}: {np.mean(np.array(z_moving) < 2):.3f} within 2 sigma; "
        f"constant {len(z_constant) // 2}: {np.mean(np.array(z_constant) < 2):.3f}"
    )
    assert len(z_moving) >= 10 and len(z_constant) >= 40
    assert np.mean(np.array(z_moving) < 2) >= 0.95  # per axis
    assert np.mean(np.array(z_constant) < 2) >= 0.95
    assert float(np.min(pm["pm_baseline"])) > YEAR


def _star_ids(cat, settings) -> dict[int, int]:
    t = cat.query(f"SELECT DISTINCT objid, star_id FROM {settings.survey}.phot_meas")
    return {int(o): int(s) for o, s in zip(t["objid"], t["star_id"])}


def test_a_short_baseline_gives_no_motion(tmp_path):
    settings, cat = _workspace(tmp_path)
    _field(cat, settings, baseline_d=60.0)
    result = cat.build()
    assert result.derived_rows["phot_pm"] == 0
    assert result.derived_rows["phot_visit"] > 0
    # the empty table has its columns and answers with no rows (no file was published)
    s = settings.survey
    t = cat.query(f"SELECT objid, pm_ra_cosdec FROM {s}.phot_pm")
    assert len(t) == 0 and t.colnames == ["objid", "pm_ra_cosdec"]
    joined = cat.query(f"SELECT m.objid FROM {s}.phot_mod m JOIN {s}.phot_pm p USING (objid)")
    assert len(joined) == 0


def test_a_visit_with_one_exposure_and_ids_that_are_not_rootnames(tmp_path):
    settings, cat = _workspace(tmp_path)
    _field(cat, settings, epochs_per_filter=3)

    def change(t):
        e = np.asarray(t.column("exposure_id").to_pylist(), dtype=object)
        first = sorted(set(e))[0]
        e[e == first] = "not-a-rootname"  # its own visit
        return _set(t, "exposure_id", e)

    _rewrite_measurements(cat, settings, "b20_f01", change)
    cat.build()
    t = cat.query(
        f"SELECT visit_id, max(nexp) AS n, count(*) AS rows FROM {settings.survey}.phot_visit "
        f"GROUP BY visit_id ORDER BY visit_id"
    )
    assert "not-a-rootname" in list(t["visit_id"])
    assert set(np.asarray(t["n"]).tolist()) == {1}
    # too few epochs for a period; chi^2 still defined
    v = cat.query(f"SELECT var_nepoch, var_period FROM {settings.survey}.phot_var")
    assert int(np.max(v["var_nepoch"])) <= 3 and np.all(np.asarray(v["var_period"].mask))


def test_nan_positions_in_measurements_are_refused_and_nothing_is_published(tmp_path):
    settings, cat = _workspace(tmp_path)
    _field(cat, settings, epochs_per_filter=3)

    def change(t):
        ra = t.column("ra").to_numpy().copy()
        ra[5] = np.nan
        return _set(t, "ra", ra)

    _rewrite_measurements(cat, settings, "b20_f01", change)
    with pytest.raises(DataError, match=r"b20_f01.*(ra|position)"):
        cat.build()
    from cloudphot.catalog.build import latest_version

    assert latest_version(cat.store, settings.bucket("products"), settings.survey) is None


def test_a_negative_baseline_is_refused(tmp_path):
    settings, cat = _workspace(tmp_path)
    _field(cat, settings, epochs_per_filter=3)
    from cloudphot.catalog.build import build_catalog

    with pytest.raises(DataError, match="baseline must be a number of days"):
        build_catalog(
            cat.store, settings.bucket("products"), settings.survey, pm_min_baseline_days=-1
        )
