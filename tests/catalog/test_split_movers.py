"""A moving star detected as several pieces on the stacked reference is one track.

catalog.visits.split_pieces / motion_tracks: pieces hand the star's light from one to
the next as it moves; two stars standing close together keep their shares.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from cloudphot.catalog import visits
from cloudphot.catalog.schema import PHOT_VISIT, arrow_schema

DEC0 = 41.0
MAS = 1 / 3.6e6


def _rows(rng, objid, ra, dec, rates, mjds, pos_err=1.0, field="f1"):
    out = []
    for k, (rate, t) in enumerate(zip(rates, mjds)):
        for filt in ("F475W", "F814W"):
            out.append(
                {
                    "objid": objid,
                    "field_id": field,
                    "visit_id": f"v{k}",
                    "filter": filt,
                    "ra": float(np.atleast_1d(ra)[k % np.size(ra)])
                    + rng.normal(0, pos_err) * MAS / np.cos(np.radians(DEC0)),
                    "dec": float(np.atleast_1d(dec)[k % np.size(dec)])
                    + rng.normal(0, pos_err) * MAS,
                    "pos_err": pos_err,
                    "rate": float(rate),
                    "mjd": float(t),
                    "tie_nstar": 50,
                }
            )
    return out


def _table(rows) -> pa.Table:
    schema = arrow_schema(PHOT_VISIT)
    cols = visits._TRACK_COLUMNS
    return pa.table({c: pa.array([r[c] for r in rows], schema.field(c).type) for c in cols})


def _survey(rng):
    mjds = np.linspace(55000, 56100, 8)
    t_yr = (mjds - mjds.mean()) / 365.25
    pm = np.array([20.0, -10.0])  # mas/yr
    ra0, dec0 = 10.0, DEC0
    cosd = np.cos(np.radians(dec0))
    # the mover's true positions, and three pieces along its track, which split its
    # light by distance (the pieces' fitted positions sit near where each was detected)
    true_x, true_y = pm[0] * t_yr, pm[1] * t_yr
    piece_t = np.array([-1.2, 0.0, 1.2])
    rows = []
    share = np.exp(-((t_yr[:, None] - piece_t[None, :]) ** 2) / 0.5)
    share /= share.sum(axis=1, keepdims=True)
    for p, tp in enumerate(piece_t):
        # each piece's position: its own place, pulled toward the star by its share
        px = pm[0] * tp + share[:, p] * (true_x - pm[0] * tp)
        py = pm[1] * tp + share[:, p] * (true_y - pm[1] * tp)
        rows += _rows(
            rng,
            100 + p,
            ra0 + px * MAS / cosd,
            dec0 + py * MAS,
            1000 * share[:, p] + rng.normal(0, 3, len(mjds)),
            mjds,
        )
    # two still stars 0.08" apart with constant shares, one of them variable
    var = 1 + 0.4 * np.sin(np.arange(8) * 2.1)
    rows += _rows(rng, 200, ra0 + 0.5 / 3600 / cosd, dec0, 800 * var, mjds)
    rows += _rows(rng, 201, ra0 + 0.58 / 3600 / cosd, dec0, 300 + rng.normal(0, 5, 8), mjds)
    # a lone still star
    rows += _rows(rng, 300, ra0, dec0 + 1 / 3600, np.full(8, 500.0), mjds)
    return _table(rows), pm, (true_x, true_y), mjds


def test_the_pieces_of_a_mover_are_grouped_and_still_pairs_are_not():
    table, *_ = _survey(np.random.default_rng(4))
    groups = visits.split_pieces(table)
    assert [sorted(g) for g in groups] == [[100, 101, 102]]


def test_the_track_is_the_light_centroid_of_the_pieces():
    table, pm, _, mjds = _survey(np.random.default_rng(5))
    tracks, pieces = visits.motion_tracks(table)
    assert sorted(pieces) == [100, 101, 102]
    for oid in (100, 101, 102):
        t = tracks.filter(pa.compute.equal(tracks.column("objid"), oid)).to_pandas()
        assert len(t) == 16  # every piece carries the star's whole track
        t = t.sort_values("mjd")
        x = (t.ra.to_numpy() - 10.0) * np.cos(np.radians(DEC0)) * 3.6e6
        yrs = (t.mjd.to_numpy() - mjds.mean()) / 365.25
        fit = np.polyfit(yrs, x, 1)[0]
        assert abs(fit - pm[0]) < 1.0, fit
    # objects that are no pieces keep their own rows, unchanged
    still = tracks.filter(pa.compute.is_in(tracks.column("objid"), pa.array([200, 201, 300])))
    orig = table.filter(pa.compute.is_in(table.column("objid"), pa.array([200, 201, 300])))
    assert still.num_rows == orig.num_rows == 48
    assert np.allclose(
        np.sort(still.column("ra").to_numpy()), np.sort(orig.column("ra").to_numpy())
    )


def test_a_split_stars_errors_carry_how_much_the_combination_changed():
    pm = pa.table(
        {
            "objid": pa.array([1, 2], pa.int64()),
            "pm_ra_cosdec": pa.array([20.0, 5.0], pa.float32()),
            "pm_ra_cosdec_err": pa.array([1.0, 1.0], pa.float32()),
            "pm_dec": pa.array([-10.0, 5.0], pa.float32()),
            "pm_dec_err": pa.array([0.5, 1.0], pa.float32()),
        }
    )
    own = pa.table(
        {
            "objid": pa.array([1], pa.int64()),
            "pm_ra_cosdec": pa.array([17.0], pa.float32()),
            "pm_dec": pa.array([-10.0], pa.float32()),
        }
    )
    out = visits._with_split_error(pm, own)
    assert np.allclose(out.column("pm_ra_cosdec_err").to_numpy(), [np.hypot(1, 3), 1.0])
    assert np.allclose(out.column("pm_dec_err").to_numpy(), [0.5, 1.0])
    assert out.schema == pm.schema


def test_nothing_to_group_leaves_the_visits_as_they_are():
    rng = np.random.default_rng(1)
    mjds = np.linspace(55000, 56100, 8)
    table = _table(_rows(rng, 1, 10.0, DEC0, np.full(8, 100.0), mjds))
    tracks, pieces = visits.motion_tracks(table)
    assert len(pieces) == 0 and tracks is table


def test_a_split_stars_variability_is_that_of_its_summed_light():
    """Each piece alone gains what the next loses and looks variable; their sum does not."""
    import duckdb

    rng = np.random.default_rng(3)
    n, zpt = 24, 25.0
    share = np.linspace(0.9, 0.1, n)  # the light moves from piece 1 to piece 2
    total = 400.0
    rows = []
    for e in range(n):
        for oid, rate in ((1, total * share[e]), (2, total * (1 - share[e])), (3, 150.0)):
            rate = rate + rng.normal(0, 2.0)
            rows.append(
                {
                    "objid": oid,
                    "filter": "F814W",
                    "visit_id": f"v{e}",
                    "exposure_id": f"e{e}",
                    "mjd": 55000.0 + 40 * e,
                    "rate": rate,
                    "raterr": 2.0,
                    "vega": zpt - 2.5 * np.log10(rate),
                    "err": 1.0857 * 2.0 / rate,
                    "flag": 0,
                }
            )
    meas = pa.Table.from_pylist(rows)
    mod = pa.table({"objid": [1, 2, 3], "ra": [10.0, 10.00001, 10.1], "dec": [DEC0] * 3})
    pieces = pa.table({"objid": pa.array([1, 2], pa.int64()), "grp": pa.array([0, 0], pa.int64())})
    con = duckdb.connect()
    for name, t in (("meas", meas), ("mod", mod), ("pieces", pieces)):
        con.register(name, t)

    def chi2(source):
        t = con.sql(visits._var_sql(source, "mod")).to_arrow_table().to_pandas()
        return dict(zip(t.objid, t.var_chi2))

    alone = chi2("meas")
    summed = chi2(visits._summed_light_sql("meas", "pieces"))
    assert alone[1] > 100 and alone[2] > 100  # the pieces look variable
    assert summed[1] < 3 and summed[2] < 3  # the star they are does not
    assert summed[1] == summed[2]
    assert abs(summed[3] - alone[3]) < 1e-9  # other stars are untouched
    mean = con.sql(
        f"SELECT avg(vega) AS v FROM {visits._summed_light_sql('meas', 'pieces')} WHERE objid = 1"
    ).fetchall()[0][0]
    assert abs(mean - (zpt - 2.5 * np.log10(total))) < 0.01


def test_no_proper_motions_is_no_error():
    """A version whose objects have no piece with its own motion (the tiny demo field):
    the honest-error step gets empty tables and must leave them as they are."""
    cols = ("objid", "pm_ra_cosdec", "pm_dec", "pm_ra_cosdec_err", "pm_dec_err")
    types = (pa.int64(), pa.float64(), pa.float64(), pa.float64(), pa.float64())
    empty = pa.table({c: pa.array([], t) for c, t in zip(cols, types)})
    one = pa.table({c: pa.array([7 if c == "objid" else 1.0], t) for c, t in zip(cols, types)})
    assert visits._with_split_error(empty, one).num_rows == 0
    assert visits._with_split_error(one, empty.slice(0, 0)).column("pm_dec_err").to_pylist() == [
        1.0
    ]
