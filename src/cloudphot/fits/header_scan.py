"""Structural pre-check of an uploaded FITS file in plain Python, before any FITS library.

Upload validation runs on every object that lands in the raw bucket, so it must
never be the thing that crashes, hangs or exhausts a Lambda's memory. This module
reads only 2880-byte header blocks (it seeks over data), parses the cards it needs
with a small parser of its own, and refuses, with a reason naming the HDU and
keyword, anything a FITS library could choke on:

- not FITS (first card not ``SIMPLE = T``), empty files, directories;
- a header without an END card within ``max_bytes_header``;
- BITPIX/NAXIS/NAXISn/PCOUNT/GCOUNT missing, not integers, or out of range;
- data larger than ``max_pixels`` elements, and tile-compressed images whose
  ``ZNAXISn`` product would decompress beyond ``max_pixels`` (decompression bombs);
- truncation: the file is shorter than the headers and data it declares;
- a structural keyword (BITPIX, NAXISn, BSCALE, ...) given twice: readers disagree
  on which card wins (this scan keeps the first, astropy may raise), so the file
  means two different things.

Every other keyword written more than once is listed in :attr:`HduInfo.duplicates`,
so the metadata reader can refuse duplicates of what it reads.
"""

from __future__ import annotations

import math
import os
import re
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

from cloudphot.errors import InvalidExposure

__all__ = [
    "BLOCK",
    "HduInfo",
    "parse_card_value",
    "read_header_bytes",
    "scan_fits",
]

#: FITS logical record length (bytes).
BLOCK = 2880
_CARD = 80
_VALID_BITPIX = (8, 16, 32, 64, -32, -64)
_MAX_NAXIS = 999
_INT_RE = re.compile(r"^[+-]?\d+$")
_FLOAT_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([EeDd][+-]?\d+)?$")
_PNG = b"\x89PNG\r\n\x1a\n"
#: keywords that decide how the bytes are read; a second card for one is refused
_STRUCTURAL = re.compile(
    r"^(SIMPLE|XTENSION|BITPIX|NAXIS\d{0,3}|PCOUNT|GCOUNT|GROUPS|EXTEND|EXTNAME|EXTVER|"
    r"BSCALE|BZERO|BLANK|ZIMAGE|ZBITPIX|ZNAXIS\d{0,3}|ZCMPTYPE|ZTILE\d{1,3}|THEAP|TFIELDS|"
    r"TFORM\d{1,3}|TSCAL\d{1,3}|TZERO\d{1,3})$"
)


@dataclass(frozen=True)
class HduInfo:
    """Where one HDU sits in the file and what its structural keywords say.

    Offsets and sizes in bytes. ``shape`` is numpy order (NAXISn ... NAXIS1);
    ``data_bytes`` excludes the padding to a whole block. ``zshape`` is the
    uncompressed shape of a tile-compressed image (ZIMAGE = T), else None.
    """

    index: int
    header_offset: int
    header_bytes: int
    data_offset: int
    data_bytes: int
    xtension: str | None  # None for the primary HDU
    extname: str | None
    extver: int | None
    bitpix: int
    shape: tuple[int, ...]
    pcount: int = 0
    gcount: int = 1
    zshape: tuple[int, ...] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: keywords (value cards) written more than once in this header
    duplicates: frozenset[str] = frozenset()
    #: BSCALE and BZERO as written (None when absent; text when not a number)
    bscale: str | int | float | bool | None = None
    bzero: str | int | float | bool | None = None

    @property
    def label(self) -> str:
        """How errors name this HDU: ``HDU 0 (primary)``, ``HDU 1 (SCI,1)``."""
        if self.index == 0:
            return "HDU 0 (primary)"
        if self.extname:
            return f"HDU {self.index} ({self.extname},{self.extver or 1})"
        return f"HDU {self.index}"

    @property
    def npix(self) -> int:
        """Number of data elements (0 for a header-only HDU)."""
        return math.prod(self.shape) if self.shape else 0


def parse_card_value(raw: str) -> str | int | float | bool | None:
    """Value of a FITS card's value field (columns 11-80): str, int, float, bool or None.

    Strings keep inner spaces but lose trailing blanks and ``''`` escapes; a value
    that fits no FITS type is returned as its stripped text, so callers can say
    exactly what was written.
    """
    s = raw.lstrip()
    if s.startswith("'"):
        out, i = [], 1
        while i < len(s):
            c = s[i]
            if c == "'":
                if i + 1 < len(s) and s[i + 1] == "'":
                    out.append("'")
                    i += 2
                    continue
                return "".join(out).rstrip()
            out.append(c)
            i += 1
        return "".join(out).rstrip()  # unterminated: tolerate as the rest of the card
    text = s.split("/", 1)[0].strip()
    if text == "":
        return None
    if text == "T":
        return True
    if text == "F":
        return False
    if _INT_RE.match(text):
        return int(text)
    if _FLOAT_RE.match(text):
        return float(text.replace("D", "E").replace("d", "e"))
    return text


def _fail(source: str, reason: str) -> InvalidExposure:
    return InvalidExposure(source, reason)


def _read_header(
    f: BinaryIO, start: int, file_size: int, index: int, max_bytes: int, source: str
) -> tuple[dict[str, object], int, set[str]]:
    """Parse one header from ``start``: first occurrence of each keyword, its size, and
    the keywords written more than once."""
    cards: dict[str, object] = {}
    duplicates: set[str] = set()
    pos = start
    where = "primary header" if index == 0 else f"header of HDU {index}"
    while True:
        if pos - start >= max_bytes:
            raise _fail(
                source,
                f"no END card within the first {max_bytes} bytes of the {where} "
                f"(starting at byte {start})",
            )
        f.seek(pos)
        block = f.read(BLOCK)
        if len(block) < BLOCK:
            if not block and not cards:
                raise _fail(
                    source,
                    f"truncated: the file ends at byte {file_size} where the {where} should start",
                )
            if not block:
                raise _fail(
                    source,
                    f"the {where} has no END card: the file ends at byte "
                    f"{file_size} after {(pos - start) // _CARD} cards",
                )
            raise _fail(
                source,
                f"truncated in the {where}: the file ends at byte {file_size}, "
                f"inside a {BLOCK}-byte header block and before any END card",
            )
        try:
            text = block.decode("ascii")
        except UnicodeDecodeError as exc:
            if index == 0 and pos == 0:
                raise _fail(source, "not a FITS file: the first block is not ASCII text") from None
            raise _fail(
                source, f"the {where} has a non-ASCII byte at file offset {pos + exc.start}"
            ) from None
        pos += BLOCK
        for k in range(0, BLOCK, _CARD):
            card = text[k : k + _CARD]
            key = card[:8].rstrip()
            if key == "END":
                return cards, pos - start, duplicates
            if key in ("SIMPLE", "XTENSION") and (pos - BLOCK + k) != start:
                raise _fail(
                    source,
                    f"the {where} has no END card before the next HDU starts "
                    f"({key} at byte {pos - BLOCK + k})",
                )
            if card[8:10] == "= " and key:
                if key not in cards:
                    cards[key] = parse_card_value(card[10:])
                    continue
                if _STRUCTURAL.match(key):
                    raise _fail(
                        source,
                        f"{key} is given twice in the {where}: readers disagree on which "
                        "card wins, so the file's layout is ambiguous",
                    )
                duplicates.add(key)


def _require_int(cards: dict, key: str, where: str, source: str, lo: int, hi: int) -> int:
    if key not in cards:
        raise _fail(source, f"missing keyword {key} in the {where}")
    v = cards[key]
    if isinstance(v, bool) or not isinstance(v, int):
        shown = f"'{v}'" if isinstance(v, str) else repr(v)
        kind = (
            "a string"
            if isinstance(v, str)
            else "a logical"
            if isinstance(v, bool)
            else "a real number"
            if isinstance(v, float)
            else "empty"
        )
        raise _fail(source, f"{key} in the {where} must be an integer, got {shown} ({kind})")
    if not lo <= v <= hi:
        raise _fail(source, f"{key} = {v} in the {where} is out of range [{lo}, {hi}]")
    return v


def _check_first_card(head: bytes, source: str) -> None:
    if head.startswith(_PNG):
        raise _fail(source, "not a FITS file: it is a PNG image")
    if not head.startswith(b"SIMPLE  ="):
        shown = head[:20].decode("ascii", "replace").rstrip()
        raise _fail(
            source,
            f"not a FITS file: the first card must be 'SIMPLE  = T', "
            f"the file starts with {shown!r}",
        )


def scan_fits(
    path: str | os.PathLike,
    *,
    max_bytes_header: int = 400 * BLOCK,
    max_hdus: int = 64,
    max_pixels: int = 2**28,
    source: str | None = None,
) -> list[HduInfo]:
    """Check the structure of a FITS file and locate its HDUs, reading headers only.

    Parameters
    ----------
    path : local file.
    max_bytes_header : most bytes one header may take before its END card.
    max_hdus : most HDUs accepted.
    max_pixels : most data elements in one HDU (and most pixels a tile-compressed
        image may decompress to). Binary tables get the same budget in bytes x 8.
    source : name used in errors (default: the file name).

    Returns
    -------
    One :class:`HduInfo` per HDU, in file order.

    Raises
    ------
    cloudphot.errors.InvalidExposure
        With a reason naming the HDU, keyword and what is wrong.
    """
    p = Path(path)
    source = source or p.name
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise _fail(source, f"no such file: {p}") from None
    except OSError as exc:
        raise _fail(source, f"cannot stat {p}: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise _fail(source, f"{p} is a directory, not a FITS file")
    if not stat.S_ISREG(st.st_mode):
        raise _fail(source, f"{p} is not a regular file")
    size = st.st_size
    if size == 0:
        raise _fail(source, "empty file (0 bytes): not a FITS file")
    try:
        with open(p, "rb") as f:
            return _scan_open(f, size, max_bytes_header, max_hdus, max_pixels, source)
    except OSError as exc:
        raise _fail(source, f"cannot read {p}: {exc.strerror}") from None


def _scan_open(
    f: BinaryIO, size: int, max_bytes_header: int, max_hdus: int, max_pixels: int, source: str
) -> list[HduInfo]:
    hdus: list[HduInfo] = []
    _check_first_card(f.read(BLOCK), source)
    pos = 0
    while pos < size:
        index = len(hdus)
        if index >= max_hdus:
            raise _fail(
                source,
                f"more than {max_hdus} HDUs: refusing to scan further (byte {pos} of {size})",
            )
        if index > 0:
            f.seek(pos)
            head = f.read(_CARD)
            if not head.startswith(b"XTENSION="):
                rest = size - pos
                if head.strip(b"\0 ") == b"" or rest < BLOCK:
                    hdus[-1] = _with_note(
                        hdus[-1], f"{rest} trailing bytes after the last HDU ignored"
                    )
                    break
                shown = head[:20].decode("ascii", "replace").rstrip()
                raise _fail(
                    source,
                    f"bytes after HDU {index - 1} at offset {pos} are not a "
                    f"FITS extension (start with {shown!r}, not 'XTENSION=')",
                )
        cards, hbytes, dups = _read_header(f, pos, size, index, max_bytes_header, source)
        info = replace(
            _check_hdu(cards, index, pos, hbytes, max_pixels, source), duplicates=frozenset(dups)
        )
        hdus.append(info)
        pos = info.data_offset + _padded(info.data_bytes)
        if pos > size:
            if info.data_offset + info.data_bytes > size:
                missing = info.data_offset + info.data_bytes - size
                raise _fail(
                    source,
                    f"truncated: {info.label} declares {info.data_bytes} "
                    f"data bytes but the file ends {missing} bytes short "
                    f"(file is {size} bytes)",
                )
            hdus[-1] = _with_note(
                info, f"the last HDU lacks the zero padding to a whole {BLOCK}-byte block"
            )
            break
    return hdus


def _padded(n: int) -> int:
    return -(-n // BLOCK) * BLOCK


def _with_note(info: HduInfo, note: str) -> HduInfo:
    return replace(info, notes=info.notes + (note,))


def _check_hdu(
    cards: dict, index: int, offset: int, hbytes: int, max_pixels: int, source: str
) -> HduInfo:
    where = "primary header" if index == 0 else f"header of HDU {index}"
    xtension: str | None = None
    if index == 0:
        if cards.get("SIMPLE") is not True:
            raise _fail(
                source, f"SIMPLE must be T in the primary header, got {cards.get('SIMPLE')!r}"
            )
    else:
        xt = cards.get("XTENSION")
        if not isinstance(xt, str) or not xt.strip():
            raise _fail(source, f"XTENSION in the {where} must be a string, got {xt!r}")
        xtension = xt.strip().upper()
    extname = cards.get("EXTNAME")
    extname = extname.strip().upper() if isinstance(extname, str) else None
    extver = cards.get("EXTVER")
    if extver is not None and (
        isinstance(extver, bool) or not isinstance(extver, int) or extver < 1
    ):
        raise _fail(source, f"EXTVER in the {where} must be a positive integer, got {extver!r}")
    label = where if extname is None else f"{where} ({extname},{extver or 1})"
    bitpix = _require_int(cards, "BITPIX", label, source, -64, 64)
    if bitpix not in _VALID_BITPIX:
        raise _fail(source, f"BITPIX = {bitpix} in the {label} is not one of {_VALID_BITPIX}")
    naxis = _require_int(cards, "NAXIS", label, source, 0, _MAX_NAXIS)
    axes = [_require_int(cards, f"NAXIS{i}", label, source, 0, 2**62) for i in range(1, naxis + 1)]
    pcount, gcount = 0, 1
    if index > 0:
        pcount = _require_int(cards, "PCOUNT", label, source, 0, 2**62)
        gcount = _require_int(cards, "GCOUNT", label, source, 0, 2**62)
    random_groups = index == 0 and cards.get("GROUPS") is True and naxis > 0 and axes[0] == 0
    data_axes = axes[1:] if random_groups else axes
    nelem = math.prod(data_axes) if naxis else 0
    if random_groups:
        pcount = _require_int(cards, "PCOUNT", label, source, 0, 2**62) if "PCOUNT" in cards else 0
        gcount = _require_int(cards, "GCOUNT", label, source, 0, 2**62) if "GCOUNT" in cards else 1
    shape_txt = " x ".join(str(a) for a in axes)
    is_table = xtension in ("BINTABLE", "TABLE", "A3DTABLE")
    if is_table:
        budget = max_pixels * 8
        total = (nelem + pcount) * gcount * abs(bitpix) // 8
        if total > budget:
            raise _fail(
                source,
                f"the {label} declares a {xtension} of {total} bytes "
                f"({shape_txt} + heap {pcount}), more than the limit of {budget}",
            )
    elif nelem * gcount > max_pixels or pcount > max_pixels:
        raise _fail(
            source,
            f"the {label} declares {nelem * gcount} data elements "
            f"(NAXISn = {shape_txt}), more than the limit of {max_pixels}",
        )
    zshape = None
    if cards.get("ZIMAGE") is True:
        znaxis = _require_int(cards, "ZNAXIS", label, source, 0, _MAX_NAXIS)
        zaxes = [
            _require_int(cards, f"ZNAXIS{i}", label, source, 0, 2**62) for i in range(1, znaxis + 1)
        ]
        zbitpix = _require_int(cards, "ZBITPIX", label, source, -64, 64)
        if zbitpix not in _VALID_BITPIX:
            raise _fail(source, f"ZBITPIX = {zbitpix} in the {label} is not one of {_VALID_BITPIX}")
        znpix = math.prod(zaxes) if zaxes else 0
        if znpix > max_pixels:
            raise _fail(
                source,
                f"the tile-compressed image in the {label} would decompress to "
                f"{znpix} pixels (ZNAXISn = {' x '.join(map(str, zaxes))}), more "
                f"than the limit of {max_pixels}: refused before decompression",
            )
        zshape = tuple(reversed(zaxes))
    data_bytes = abs(bitpix) // 8 * gcount * (pcount + nelem) if naxis else 0
    return HduInfo(
        index=index,
        header_offset=offset,
        header_bytes=hbytes,
        data_offset=offset + hbytes,
        data_bytes=data_bytes,
        xtension=xtension,
        extname=extname,
        extver=extver,
        bitpix=bitpix,
        shape=tuple(reversed(axes)),
        pcount=pcount,
        gcount=gcount,
        zshape=zshape,
        bscale=cards.get("BSCALE"),
        bzero=cards.get("BZERO"),
    )


def read_header_bytes(path: str | os.PathLike, info: HduInfo) -> bytes:
    """The raw header of one HDU found by :func:`scan_fits` (bounded by its size)."""
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        return f.read(info.header_bytes)
