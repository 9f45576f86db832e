"""Query results to a terminal or a file as they arrive: aligned text and CSV, streamed.

``cloudphot query`` used to build an astropy Table of the whole page and print it
with ``pprint``: 297 s and 1.1 GB for a 100,000-row page of phot_mod (issue 15.6).
Here each Arrow record batch is formatted by Arrow's own compute kernels (numbers
to their shortest round-trip text, padding, joining a row) and written at once,
so memory stays at one batch and the time is the query's plus a little.

The text table aligns columns to the widest value seen so far (the header and
the first batch fix the widths; a later, wider value widens its column from
there on, as a stream cannot go back). VOTable and FITS need the whole table
(astropy writes them), up to the row limit.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import IO

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["NULL_TEXT", "write_csv", "write_text_table"]

#: how a NULL prints in the text table (astropy's masked value)
NULL_TEXT = "--"


def _text_scalar(text: str) -> pa.Scalar:
    """A string scalar built from buffers: ``pa.scalar("--")`` imports pandas (0.5 s of a
    one-shot command) to check whether the Python value is one of its types."""
    data = text.encode()
    offsets = struct.pack("<ii", 0, len(data))
    arr = pa.Array.from_buffers(pa.string(), 1, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    return arr[0]


def _as_text(col: pa.Array, null: pa.Scalar) -> pa.Array:
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
        col = pc.cast(col, pa.string())
    return pc.coalesce(col, null) if col.null_count else col


def write_text_table(schema: pa.Schema, batches: Iterable[pa.RecordBatch], out: IO[str]) -> int:
    """Aligned columns (names, a dashes line, rows), right-aligned; returns the row count."""
    names = schema.names
    widths = [len(n) for n in names]
    null, space = _text_scalar(NULL_TEXT), _text_scalar(" ")
    header_done = False
    n = 0
    for batch in batches:
        cols = [_as_text(c, null) for c in batch.columns]
        for i, c in enumerate(cols):
            if len(c):
                widths[i] = max(widths[i], pc.max(pc.utf8_length(c)).as_py() or 0)
        if not header_done:
            out.write(" ".join(name.rjust(w) for name, w in zip(names, widths)) + "\n")
            out.write(" ".join("-" * w for w in widths) + "\n")
            header_done = True
        if batch.num_rows == 0:
            continue
        padded = [pc.utf8_lpad(c, w, " ") for c, w in zip(cols, widths)]
        rows = pc.binary_join_element_wise(*padded, space) if len(padded) > 1 else padded[0]
        out.write("\n".join(rows.to_pylist()) + "\n")
        n += batch.num_rows
    if not header_done:  # no batch at all: the header alone
        out.write(" ".join(names) + "\n" + " ".join("-" * w for w in widths) + "\n")
    return n


def _csv_field(text: str) -> str:
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\r\n') else text


def write_csv(schema: pa.Schema, batches: Iterable[pa.RecordBatch], out: IO[str]) -> int:
    """CSV with a header, quoting only the fields that need it (as astropy and ``psql
    --csv`` write; Arrow's writer quotes every string); NULL is an empty field."""
    empty, comma = _text_scalar(""), _text_scalar(",")
    quote = _text_scalar('"')
    out.write(",".join(_csv_field(n) for n in schema.names) + "\n")
    n = 0
    for batch in batches:
        cols = []
        for col in batch.columns:
            text = _as_text(col, empty)
            if pa.types.is_string(col.type) or pa.types.is_dictionary(col.type):
                needs = pc.match_substring_regex(text, '[,"\r\n]')
                if pc.any(needs).as_py():
                    quoted = pc.binary_join_element_wise(
                        quote, pc.replace_substring(text, '"', '""'), quote, empty
                    )
                    text = pc.if_else(needs, quoted, text)
            cols.append(text)
        if batch.num_rows == 0:
            continue
        rows = pc.binary_join_element_wise(*cols, comma) if len(cols) > 1 else cols[0]
        out.write("\n".join(rows.to_pylist()) + "\n")
        n += batch.num_rows
    return n
