"""Plain-Python structural pre-check: what it finds in good files and refuses in bad ones."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from cloudphot.errors import InvalidExposure
from cloudphot.fits.header_scan import BLOCK, parse_card_value, scan_fits
from cloudphot.simulate.exposure import synthetic_exposure

REAL = Path("/work/shared/data/hst_images")


def card(key: str, value: str) -> str:
    """One 80-character card; ``value`` is the literal value field text."""
    return f"{key:<8}= {value:>20}".ljust(80)


def header(*cards: str, end: bool = True) -> bytes:
    text = "".join(cards) + ("END".ljust(80) if end else "")
    return text.ljust(-(-len(text) // BLOCK) * BLOCK).encode("ascii")


PRIMARY = header(card("SIMPLE", "T"), card("BITPIX", "8"), card("NAXIS", "0"), card("EXTEND", "T"))


def image_ext(
    *extra: str, naxis: tuple[int, ...] = (4, 3), bitpix: int = -32, naxis_text: str | None = None
) -> bytes:
    cards = [
        card("XTENSION", "'IMAGE   '"),
        card("BITPIX", str(bitpix)),
        card("NAXIS", naxis_text or str(len(naxis))),
    ]
    cards += [card(f"NAXIS{i + 1}", str(n)) for i, n in enumerate(naxis)]
    cards += [
        card("PCOUNT", "0"),
        card("GCOUNT", "1"),
        card("EXTNAME", "'SCI     '"),
        card("EXTVER", "1"),
        *extra,
    ]
    return header(*cards)


def write(tmp_path: Path, *parts: bytes, name: str = "x_flc.fits") -> Path:
    p = tmp_path / name
    p.write_bytes(b"".join(parts))
    return p


def refused(path, match: str) -> InvalidExposure:
    with pytest.raises(InvalidExposure, match=match) as info:
        scan_fits(path)
    assert info.value.source == Path(path).name
    return info.value


# --- good files -------------------------------------------------------------------


def test_parse_card_value():
    assert parse_card_value("                   T / c") is True
    assert parse_card_value("                  42 / c") == 42
    assert parse_card_value("  -1.5D+03 / c") == -1500.0
    assert parse_card_value(" 'O''Hara  ' / c") == "O'Hara"
    assert parse_card_value(" 'a/b' / comment") == "a/b"
    assert parse_card_value("   / only a comment") is None
    assert parse_card_value(" 1E12x") == "1E12x"


def test_synthetic_layout(tmp_path):
    p = synthetic_exposure(tmp_path, shape=(20, 30), nstars=3)
    hdus = scan_fits(p)
    assert [(h.extname, h.extver) for h in hdus] == [
        (None, None),
        ("SCI", 1),
        ("ERR", 1),
        ("DQ", 1),
        ("SCI", 2),
        ("ERR", 2),
        ("DQ", 2),
    ]
    sci = hdus[1]
    assert sci.shape == (20, 30) and sci.bitpix == -32 and sci.data_bytes == 20 * 30 * 4
    assert hdus[3].bitpix == 16 and hdus[3].label == "HDU 3 (DQ,1)"
    end = hdus[-1].data_offset + -(-hdus[-1].data_bytes // BLOCK) * BLOCK
    assert end == p.stat().st_size
    with fits.open(p) as h:  # offsets agree with astropy's
        for info, hdu in zip(hdus, h):
            assert info.header_offset == hdu.fileinfo()["hdrLoc"]
            assert info.data_offset == hdu.fileinfo()["datLoc"]


@pytest.mark.parametrize(
    "name,n",
    [
        ("drizzlepac/sample_ipppssoot_flc.fits", 24),
        ("drizzlepac/sample_ipppssoot_flt.fits", 16),
        ("drizzlepac/sample_flc_header.fits", 21),
        ("drizzlepac/sample_drc_header.fits", 5),
        ("pyfits_wfpc2/test0.fits", 5),
        ("beast_phat/M31-B09-EAST_chunk_F475W_drz.chip1.fits", 2),
    ],
)
def test_real_files_scan(name, n):
    path = REAL / name
    if not path.exists():
        pytest.skip("shared real data not present")
    hdus = scan_fits(path)
    assert len(hdus) == n
    last = hdus[-1]
    assert last.data_offset + -(-last.data_bytes // BLOCK) * BLOCK == path.stat().st_size
    assert all(not h.notes for h in hdus)


def test_header_only_hdu_and_padding_note(tmp_path):
    # SCI with NAXIS1 = 0 (as STScI header samples) has no data; a missing final pad is a note
    data = np.arange(12, dtype=">f4").tobytes()
    p = write(tmp_path, PRIMARY, image_ext(naxis=(0, 1)), image_ext(), data)
    hdus = scan_fits(p)
    assert hdus[1].data_bytes == 0 and hdus[1].npix == 0
    assert hdus[2].data_bytes == 48 and "padding" in hdus[2].notes[0]


# --- hostile files -------------------------------------------------------------------


def test_empty_file(tmp_path):
    refused(write(tmp_path, b""), r"empty file \(0 bytes\)")


def test_directory(tmp_path):
    d = tmp_path / "upload_flc.fits"
    d.mkdir()
    refused(d, "is a directory, not a FITS file")


def test_missing_file(tmp_path):
    refused(tmp_path / "nope.fits", "no such file")


def test_png(tmp_path):
    refused(write(tmp_path, b"\x89PNG\r\n\x1a\n" + bytes(5000), name="x.png"), "PNG image")


def test_text(tmp_path):
    refused(write(tmp_path, b"hello, this is not FITS\n" * 300), r"not a FITS file.*'hello")


def test_binary_junk(tmp_path):
    refused(write(tmp_path, bytes(range(256)) * 20), "not a FITS file")


def test_missing_end_primary_only(tmp_path):
    refused(
        write(
            tmp_path,
            header(card("SIMPLE", "T"), card("BITPIX", "8"), card("NAXIS", "0"), end=False),
        ),
        r"primary header has no END card: the file ends at byte 2880 after 36 cards",
    )


def test_missing_end_before_extension(tmp_path):
    prim = header(card("SIMPLE", "T"), card("BITPIX", "8"), card("NAXIS", "0"), end=False)
    refused(
        write(tmp_path, prim, image_ext(), bytes(BLOCK)),
        r"primary header has no END card before the next HDU starts \(XTENSION at byte 2880\)",
    )


def test_end_beyond_bound(tmp_path):
    many = [card(f"K{i}", str(i)) for i in range(36 * 5)]
    p = write(tmp_path, header(card("SIMPLE", "T"), card("BITPIX", "8"), card("NAXIS", "0"), *many))
    with pytest.raises(InvalidExposure, match=r"no END card within the first 5760 bytes"):
        scan_fits(p, max_bytes_header=2 * BLOCK)
    assert len(scan_fits(p)) == 1  # fine with the default bound


def test_truncated_mid_header(tmp_path):
    p = synthetic_exposure(tmp_path, shape=(20, 30), nstars=3)
    hdus = scan_fits(p)
    raw = p.read_bytes()
    cut = write(tmp_path, raw[: hdus[4].header_offset + 1000], name="cut_flc.fits")
    refused(cut, r"truncated in the header of HDU 4: the file ends at byte \d+, inside a 2880")


def test_truncated_at_header_boundary(tmp_path):
    p = synthetic_exposure(tmp_path, shape=(20, 30), nstars=3)
    hdus = scan_fits(p)
    cut = write(tmp_path, p.read_bytes()[: hdus[4].data_offset], name="cut_flc.fits")
    refused(
        cut,
        r"truncated: HDU 4 \(SCI,2\) declares 2400 data bytes but the file ends "
        r"2400 bytes short",
    )


def test_truncated_mid_data(tmp_path):
    p = synthetic_exposure(tmp_path, shape=(64, 64), nstars=3)
    hdus = scan_fits(p)
    cut = write(tmp_path, p.read_bytes()[: hdus[1].data_offset + 5000], name="cut_flc.fits")
    refused(
        cut,
        r"truncated: HDU 1 \(SCI,1\) declares 16384 data bytes but the file ends "
        r"11384 bytes short",
    )


def test_bitpix_invalid(tmp_path):
    refused(
        write(tmp_path, PRIMARY, image_ext(bitpix=12), bytes(BLOCK)),
        r"BITPIX = 12 in the header of HDU 1 \(SCI,1\) is not one of",
    )


def test_missing_naxis(tmp_path):
    refused(
        write(tmp_path, header(card("SIMPLE", "T"), card("BITPIX", "8"))),
        "missing keyword NAXIS in the primary header",
    )


def test_naxis_as_string(tmp_path):
    refused(
        write(tmp_path, PRIMARY, image_ext(naxis_text="'2'"), bytes(BLOCK)),
        r"NAXIS in the header of HDU 1 \(SCI,1\) must be an integer, got '2' \(a string\)",
    )


def test_naxis1_float(tmp_path):
    ext = header(
        card("XTENSION", "'IMAGE   '"),
        card("BITPIX", "-32"),
        card("NAXIS", "1"),
        card("NAXIS1", "1E12"),
        card("PCOUNT", "0"),
        card("GCOUNT", "1"),
    )
    refused(
        write(tmp_path, PRIMARY, ext),
        r"NAXIS1 in the header of HDU 1 must be an integer, "
        r"got 1000000000000.0 \(a real number\)",
    )


def test_absurd_naxis1_no_allocation(tmp_path):
    p = write(tmp_path, PRIMARY, image_ext(naxis=(10**12, 1)), bytes(BLOCK))
    tracemalloc.start()
    try:
        refused(
            p,
            r"HDU 1 \(SCI,1\) declares 1000000000000 data elements "
            r"\(NAXISn = 1000000000000 x 1\), more than the limit of 268435456",
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


def test_negative_naxis(tmp_path):
    refused(
        write(tmp_path, PRIMARY, image_ext(naxis=(-4, 3)), bytes(BLOCK)),
        r"NAXIS1 = -4 .* out of range",
    )


def test_pixels_limit_is_a_parameter(tmp_path):
    p = write(tmp_path, PRIMARY, image_ext(naxis=(100, 100)), bytes(40000 + 960))
    assert scan_fits(p)[1].npix == 10_000
    with pytest.raises(InvalidExposure, match="more than the limit of 9999"):
        scan_fits(p, max_pixels=9999)


def test_too_many_hdus(tmp_path):
    ext = image_ext(naxis=(0,))
    p = write(tmp_path, PRIMARY, *[ext] * 10)
    assert len(scan_fits(p)) == 11
    with pytest.raises(InvalidExposure, match="more than 5 HDUs"):
        scan_fits(p, max_hdus=5)


def test_garbage_after_last_hdu(tmp_path):
    refused(
        write(tmp_path, PRIMARY, b"GARBAGE!" * 720),
        r"bytes after HDU 0 at offset 2880 are not a FITS extension",
    )
    p = write(tmp_path, PRIMARY, bytes(100), name="pad_flc.fits")
    assert "100 trailing bytes" in scan_fits(p)[0].notes[0]


def _compressed_bomb(tmp_path: Path) -> Path:
    """A real tile-compressed image whose header then claims 10^6 x 10^6 pixels."""
    p = tmp_path / "bomb_flc.fits"
    hdu = fits.CompImageHDU(np.zeros((16, 16), np.float32), compression_type="RICE_1", name="SCI")
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(p)
    raw = bytearray(p.read_bytes())
    for key in (b"ZNAXIS1", b"ZNAXIS2"):
        i = raw.index(key.ljust(8) + b"=")
        raw[i : i + 80] = card(key.decode(), "1000000").encode()
    p.write_bytes(bytes(raw))
    return p


def test_decompression_bomb_refused_before_decompression(tmp_path):
    p = _compressed_bomb(tmp_path)
    tracemalloc.start()
    try:
        refused(
            p,
            r"tile-compressed image in the header of HDU 1 \(SCI,1\) would decompress "
            r"to 1000000000000 pixels \(ZNAXISn = 1000000 x 1000000\).*refused before "
            r"decompression",
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


def test_scan_needs_no_fits_library(tmp_path):
    """The pre-check runs with astropy, fitsio and numpy made unimportable."""
    p = _compressed_bomb(tmp_path)
    code = (
        "import sys\n"
        "for m in ('astropy', 'fitsio', 'numpy'): sys.modules[m] = None\n"
        "from cloudphot.fits import scan_fits\n"
        "from cloudphot.errors import InvalidExposure\n"
        "try:\n"
        f"    scan_fits({str(p)!r})\n"
        "except InvalidExposure as e:\n"
        "    print(e.reason)\n"
    )
    src = str(Path(__file__).resolve().parents[2] / "src")
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": src},
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "refused before decompression" in out.stdout


def test_compressed_image_within_limits(tmp_path):
    p = tmp_path / "ok_flc.fits"
    hdu = fits.CompImageHDU(np.zeros((16, 32), np.float32), name="SCI")
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(p)
    info = scan_fits(p)[1]
    assert info.xtension == "BINTABLE" and info.zshape == (16, 32)
