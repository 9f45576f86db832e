"""DALI request parameters: names case-insensitive, values as sent, GET and POST alike."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.datastructures import UploadFile
from starlette.requests import Request

from ..errors import QueryRefused

__all__ = ["Params", "read_params"]


@dataclass
class Params:
    """Upper-cased parameter name -> values (last wins for single-valued use)."""

    values: dict[str, list[str]] = field(default_factory=dict)
    #: multipart file parts by field name: their bytes (at most the read limit + 1)
    files: dict[str, bytes] = field(default_factory=dict)

    def get(self, name: str, default: str | None = None) -> str | None:
        v = self.values.get(name.upper())
        return v[-1] if v else default

    def all(self, name: str) -> list[str]:
        return list(self.values.get(name.upper(), []))

    def int(self, name: str, default: int | None = None, *, lo: int = 0) -> int | None:
        raw = self.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            value = int(raw.strip())
        except ValueError:
            raise QueryRefused(f"{name}={raw!r} is not an integer") from None
        if value < lo:
            raise QueryRefused(f"{name}={value} must be {lo} or more")
        return value

    def float(self, name: str, default: float | None = None) -> float | None:
        raw = self.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            raise QueryRefused(f"{name}={raw!r} is not a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise QueryRefused(f"{name}={raw!r} is not a finite number")
        return value


async def read_params(
    request: Request, *, max_fields: int = 1000, max_file_bytes: int = 64 * 1024 * 1024
) -> Params:
    """The query string plus, for POST, the form body (urlencoded or multipart).

    File parts are read (up to ``max_file_bytes`` + 1, so an oversized one is seen as
    such) and the spooled temporary files closed before this returns.
    """
    p = Params()
    for k, v in request.query_params.multi_items():
        p.values.setdefault(k.upper(), []).append(v)
    if request.method == "POST":
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            async with request.form(max_files=16, max_fields=max_fields) as form:
                for k, part in form.multi_items():
                    if isinstance(part, UploadFile):
                        p.files[k] = await part.read(max_file_bytes + 1)
                    else:
                        p.values.setdefault(k.upper(), []).append(part)
    return p
