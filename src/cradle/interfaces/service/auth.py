"""Who may call the service: bearer tokens for the API, passwords and signed sessions for reviewers.

- The API (``/v1/...``) takes a bearer token. A token is required whenever the service listens
  on an address other than loopback (:func:`check_bind`).
- Reviewers sign in with a name and a password. Only a salted scrypt hash is stored
  (:func:`hash_password`, :func:`verify_password`).
- A session is a cookie holding the reviewer's name, its issue time and a CSRF token, signed
  with HMAC-SHA256 (:class:`SessionSigner`). Every form carries the CSRF token and the server
  compares it with the session's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import time
from dataclasses import dataclass

__all__ = [
    "MIN_TOKEN_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "AuthConfigError",
    "is_loopback",
    "check_bind",
    "check_bearer",
    "hash_password",
    "verify_password",
    "Session",
    "SessionSigner",
    "new_csrf_token",
]

#: Shortest API token accepted (characters).
MIN_TOKEN_LENGTH = 16
#: Shortest reviewer password accepted (characters).
MIN_PASSWORD_LENGTH = 8

# scrypt cost: 2**14 iterations, 16 MiB of memory, ~50 ms per check.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


class AuthConfigError(ValueError):
    """A token or password that cannot be used, or a bind address that needs a token."""


def is_loopback(host: str) -> bool:
    """True when ``host`` only accepts connections from this machine.

    Examples
    --------
    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("localhost")
    (True, True, True)
    >>> is_loopback("0.0.0.0"), is_loopback("192.168.1.5")
    (False, False)
    """
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse a non-loopback address without a token, and tokens that are too short.

    Raises
    ------
    AuthConfigError
        With the reason and what to do.

    Examples
    --------
    >>> check_bind("127.0.0.1", None)
    >>> check_bind("0.0.0.0", None)
    Traceback (most recent call last):
    ...
    cradle.interfaces.service.auth.AuthConfigError: refusing to listen on 0.0.0.0 without an API token: ...
    """
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise AuthConfigError(
            f"the API token has {len(token)} characters; use at least {MIN_TOKEN_LENGTH} (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    if token is None and not is_loopback(host):
        raise AuthConfigError(
            f"refusing to listen on {host} without an API token: other machines could call it. "
            "Set CRADLE_TOKEN (or name another variable with --token-env), or listen on 127.0.0.1"
        )


def check_bearer(authorization: str | None, token: str) -> bool:
    """True when an ``Authorization`` header carries ``Bearer <token>`` (constant-time compare).

    Examples
    --------
    >>> check_bearer("Bearer s3cret-token-0123456", "s3cret-token-0123456")
    True
    >>> check_bearer("Basic abc", "s3cret-token-0123456"), check_bearer(None, "x")
    (False, False)
    """
    if not authorization:
        return False
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode(), token.encode())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password``, as ``scrypt$n$r$p$salt$hash``.

    Raises
    ------
    AuthConfigError
        When the password is shorter than :data:`MIN_PASSWORD_LENGTH`.

    Examples
    --------
    >>> h = hash_password("correct horse")
    >>> h.startswith("scrypt$16384$8$1$"), verify_password("correct horse", h), verify_password("wrong", h)
    (True, True, False)
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthConfigError(f"the password has {len(password)} characters; use at least {MIN_PASSWORD_LENGTH}")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches a hash made by :func:`hash_password`."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        expected = _unb64(digest)
        got = hashlib.scrypt(password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def new_csrf_token() -> str:
    """A fresh random token for a session's forms."""
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class Session:
    """What a session cookie holds.

    Attributes
    ----------
    user : str or None
        The signed-in reviewer; ``None`` before sign-in.
    csrf : str
        The token every form of this session must carry.
    issued : int
        Unix time the cookie was made.
    """

    user: str | None
    csrf: str
    issued: int


class SessionSigner:
    """Make and check signed session cookie values.

    Parameters
    ----------
    secret : bytes
        The signing key (at least 32 bytes).
    max_age_s : int, default=43200
        A cookie older than this is refused (12 hours).

    Examples
    --------
    >>> signer = SessionSigner(b"k" * 32)
    >>> value = signer.dump(Session("ana", "tok", int(time.time())))
    >>> signer.load(value).user
    'ana'
    >>> signer.load(value[:-2] + "xx") is None
    True
    """

    def __init__(self, secret: bytes, max_age_s: int = 12 * 3600) -> None:
        if len(secret) < 32:
            raise AuthConfigError("the session key must have at least 32 bytes")
        self._secret = secret
        self.max_age_s = max_age_s

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())

    def dump(self, session: Session) -> str:
        """The cookie value of a session."""
        payload = _b64(json.dumps({"u": session.user, "c": session.csrf, "t": session.issued}, separators=(",", ":")).encode())
        return f"{payload}.{self._sign(payload)}"

    def load(self, value: str | None) -> Session | None:
        """The session in a cookie value; ``None`` when missing, tampered with or expired."""
        if not value or "." not in value:
            return None
        payload, _, signature = value.rpartition(".")
        if not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            return None
        try:
            data = json.loads(_unb64(payload))
            session = Session(data["u"], str(data["c"]), int(data["t"]))
        except (ValueError, KeyError, TypeError):
            return None
        if session.issued + self.max_age_s < time.time():
            return None
        return session
