"""Who is asking: anonymous, or a user with a token (``cloudphot user add NAME``).

Anonymous users may query. Authenticated users also own async jobs and personal
tables (myDB). A request names its user with ``Authorization: Bearer <token>`` (pyvo:
a requests session with that header) or HTTP Basic ``NAME:<token>`` (TOPCAT's
authentication dialog); a wrong or unknown token is refused (401), never read as
anonymous. Only a SHA-256 hash of each token is stored (``service.sqlite``), so the
token is shown once, when the user is added.

On AWS the same port is filled by Amazon Cognito: API Gateway's JWT authorizer checks
the token and passes the user's ``sub`` claim (:class:`ClaimsAuthenticator`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

from ..errors import DataError

__all__ = ["Unauthorized", "UserStore", "user_of"]

USER_NAME = re.compile(r"^[a-z][a-z0-9_]{1,31}$")


class Unauthorized(DataError):
    """Credentials were sent but are not valid (HTTP 401)."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserStore:
    """Users and their token hashes in a SQLite file."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._con().execute(
            "CREATE TABLE IF NOT EXISTS tap_users (name TEXT PRIMARY KEY, token_sha256 TEXT "
            "NOT NULL, created TEXT NOT NULL)"
        )

    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            self._local.con = con
        return con

    def add(self, name: str) -> str:
        """Create user ``name``; returns the new token (shown once, stored hashed)."""
        if not USER_NAME.match(name):
            raise DataError(
                f"user name {name!r}: 2-32 characters, lower-case letters, digits and _, "
                f"starting with a letter"
            )
        token = secrets.token_urlsafe(32)
        try:
            self._con().execute(
                "INSERT INTO tap_users VALUES (?, ?, ?)",
                (name, _hash(token), datetime.now(UTC).isoformat(timespec="seconds")),
            )
        except sqlite3.IntegrityError:
            raise DataError(
                f"user {name!r} exists; 'cloudphot user token {name}' gives them a new token"
            ) from None
        return token

    def new_token(self, name: str) -> str:
        token = secrets.token_urlsafe(32)
        cur = self._con().execute(
            "UPDATE tap_users SET token_sha256 = ? WHERE name = ?", (_hash(token), name)
        )
        if cur.rowcount == 0:
            raise DataError(f"no user {name!r}; add them with 'cloudphot user add {name}'")
        return token

    def remove(self, name: str) -> bool:
        return self._con().execute("DELETE FROM tap_users WHERE name = ?", (name,)).rowcount > 0

    def names(self) -> list[str]:
        return [r[0] for r in self._con().execute("SELECT name FROM tap_users ORDER BY name")]

    def check(self, token: str, name: str | None = None) -> str:
        """The user a token belongs to (and, with ``name``, only if it is theirs)."""
        digest = _hash(token)
        rows = self._con().execute("SELECT name, token_sha256 FROM tap_users").fetchall()
        for user, stored in rows:
            if hmac.compare_digest(stored, digest) and (name is None or name == user):
                return user
        raise Unauthorized("the token is not valid (see 'cloudphot user token NAME')")


def user_of(headers, users: UserStore | None) -> str | None:
    """The authenticated user of a request's headers, or None (anonymous)."""
    auth = headers.get("authorization")
    if not auth:
        return None
    if users is None:
        raise Unauthorized("this service has no accounts; send no Authorization header")
    scheme, _, value = auth.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer" and value.strip():
        return users.check(value.strip())
    if scheme == "basic":
        try:
            name, _, token = base64.b64decode(value.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise Unauthorized("malformed Basic credentials") from None
        return users.check(token, name)
    raise Unauthorized(f"Authorization scheme {scheme!r}: use Bearer TOKEN or Basic NAME:TOKEN")
