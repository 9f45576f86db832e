"""Zeropoints from PHOTFLAM/PHOTPLAM against published values."""

from __future__ import annotations

import pytest

from cloudphot.fits.zeropoints import ab_minus_vega, zeropoints, zpt_ab, zpt_st


def test_acs_f814w_published():
    # the real jbt122x8q_flc header; ACS F814W (2012): ST 26.78, AB 25.94, Vega 25.52
    zp = zeropoints("ACS", "WFC", "F814W", 7.0768959e-20, 8045.5317)
    assert zp["zpt_st"] == pytest.approx(26.78, abs=0.005)
    assert zp["zpt_ab"] == pytest.approx(25.94, abs=0.005)
    assert zp["zpt_vega"] == pytest.approx(25.52, abs=0.01)


def test_ab_is_st_minus_pivot_term():
    # WFC3 handbook: ABMAG = STMAG - 5 log10(PHOTPLAM) + 18.692
    assert zpt_ab(1.5318e-20, 11534.459) == pytest.approx(
        zpt_st(1.5318e-20) - 5 * 4.0620 + 18.692, abs=1e-3
    )


def test_missing_plam_and_unknown_filter():
    zp = zeropoints("WFC3", "UVIS", "F225W", 4.6e-18, None)
    assert zp["zpt_ab"] is None and zp["zpt_vega"] is None and zp["zpt_st"] > 0
    assert ab_minus_vega("ACS", "WFC", "F550M") is None
    assert ab_minus_vega(" wfc3", "ir ", "f160w") == 1.25


@pytest.mark.parametrize("bad", [0.0, -1e-19, float("nan"), float("inf")])
def test_bad_photflam(bad):
    with pytest.raises(ValueError, match="PHOTFLAM must be a positive finite number"):
        zpt_st(bad)
