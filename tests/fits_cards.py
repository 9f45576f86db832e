"""Edit FITS header cards as raw bytes, so tests can write what astropy refuses to
(``CRVAL1 = NaN``, a keyword twice, an integer where a string belongs)."""

from __future__ import annotations

from pathlib import Path

from cloudphot.fits.header_scan import BLOCK, scan_fits

CARD = 80


def card(key: str, value: str) -> bytes:
    """One 80-byte card ``KEY = value`` with the value field written verbatim."""
    return f"{key:<8}= {value:>20}".ljust(CARD)[:CARD].encode("ascii")


def _cards(raw: bytes, lo: int, hi: int) -> list[bytes]:
    out = [raw[k : k + CARD] for k in range(lo, hi, CARD)]
    end = next(i for i, c in enumerate(out) if c[:8].rstrip() == b"END")
    return out[:end]


def rewrite(path: Path, hdu: int, edit, out: Path | None = None) -> Path:
    """Replace HDU ``hdu``'s cards by ``edit(cards)`` (a list of 80-byte cards, END
    excluded), re-padding the header to whole blocks; data bytes are kept."""
    raw = path.read_bytes()
    info = scan_fits(path)[hdu]
    lo, hi = info.header_offset, info.header_offset + info.header_bytes
    cards = [c.ljust(CARD)[:CARD] for c in edit(_cards(raw, lo, hi))]
    header = b"".join(cards) + b"END".ljust(CARD)
    header += b" " * (-len(header) % BLOCK)
    out = out or path
    out.write_bytes(raw[:lo] + header + raw[hi:])
    return out


def set_card(path: Path, hdu: int, key: str, value: str, out: Path | None = None) -> Path:
    """Set ``key`` (replacing its first card, else adding one) to a raw value field."""

    def edit(cards):
        for i, c in enumerate(cards):
            if c[:8].rstrip() == key.encode():
                cards[i] = card(key, value)
                return cards
        return [*cards, card(key, value)]

    return rewrite(path, hdu, edit, out)


def add_card(path: Path, hdu: int, key: str, value: str, out: Path | None = None) -> Path:
    """Append a card, even when ``key`` is already there (a duplicate)."""
    return rewrite(path, hdu, lambda cards: [*cards, card(key, value)], out)


def remove_card(path: Path, hdu: int, key: str, out: Path | None = None) -> Path:
    return rewrite(
        path, hdu, lambda cards: [c for c in cards if c[:8].rstrip() != key.encode()], out
    )
