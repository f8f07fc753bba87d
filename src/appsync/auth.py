"""Who may trigger a sync: an HS256 bearer JWT, or the next-auth v4 session cookie.

- `Authorization: Bearer <JWT>`: signed HS256 with `APPSYNC_JWT_SECRET`; `exp` required.
- next-auth v4 session cookie (`next-auth.session-token`, `__Secure-next-auth.session-token`,
  possibly split into `.0`, `.1`, ... chunks): a JWE (`dir` + `A256GCM`) whose key next-auth derives
  from `NEXTAUTH_SECRET` with HKDF-SHA256 (empty salt, info "NextAuth.js Generated Encryption Key").

The user comes from the verified claims only: `sub` → id, `email`, `name`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from joserfc import errors as jose_errors
from joserfc import jwt
from joserfc.jwe import JWERegistry
from joserfc.jwk import OctKey

from appsync.settings.keys import reveal
from appsync.settings.service import ServiceSettings
from appsync.users import User

SESSION_COOKIES = ("__Secure-next-auth.session-token", "next-auth.session-token")
NEXTAUTH_INFO = b"NextAuth.js Generated Encryption Key"
# next-auth accepts 15 s of clock skew on `exp`; so do we, for both kinds of token.
CLOCK_SKEW = 15
_NEXTAUTH_ALGORITHMS = ["dir", "A256GCM"]
_CHUNK = re.compile(r"^(?P<name>.+)\.(?P<index>\d+)$")


class AuthError(Exception):
    """Credentials that do not identify a user; the message says why (no secret in it)."""


def nextauth_key(secret: str) -> OctKey:
    """The A256GCM key next-auth v4 derives from `NEXTAUTH_SECRET`."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"", info=NEXTAUTH_INFO).derive(
        secret.encode("utf-8")
    )
    return OctKey.import_key(derived)


def session_cookie(cookies: Mapping[str, str]) -> str | None:
    """The session token from the request's cookies, chunks `.0`, `.1`, ... joined in order."""
    for name in SESSION_COOKIES:
        if name in cookies:
            return cookies[name]
        chunks = sorted(
            (int(match["index"]), value)
            for key, value in cookies.items()
            if (match := _CHUNK.match(key)) and match["name"] == name
        )
        if chunks:
            return "".join(value for _, value in chunks)
    return None


def _claims_user(claims: Mapping[str, object], kind: str) -> User:
    registry = jwt.JWTClaimsRegistry(leeway=CLOCK_SKEW, exp={"essential": True})
    try:
        registry.validate(dict(claims))
    except jose_errors.ExpiredTokenError:
        raise AuthError(f"the {kind} has expired") from None
    except jose_errors.MissingClaimError:
        raise AuthError(f"the {kind} has no 'exp' claim; tokens must expire") from None
    except jose_errors.JoseError as exc:
        raise AuthError(f"the {kind} has invalid claims: {exc.description or exc.error}") from None
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise AuthError(f"the {kind} has no 'sub' claim naming the user")
    email, name = claims.get("email"), claims.get("name")
    return User(
        id=subject,
        email=email if isinstance(email, str) else None,
        name=name if isinstance(name, str) else None,
    )


@dataclass(frozen=True, slots=True)
class Authenticator:
    """Verifies credentials with the configured secrets; unset secrets disable that way in."""

    jwt_secret: str | None
    nextauth_secret: str | None

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> Authenticator:
        """The authenticator of these settings' secrets."""
        return cls(reveal(settings.jwt_secret), reveal(settings.nextauth_secret))

    @property
    def enabled(self) -> bool:
        """Whether any secret is configured, so that credentials are required."""
        return bool(self.jwt_secret or self.nextauth_secret)

    def bearer_user(self, token: str) -> User:
        """The user of an HS256 bearer JWT, or `AuthError`."""
        if not self.jwt_secret:
            raise AuthError("bearer tokens are not accepted here: APPSYNC_JWT_SECRET is not set")
        try:
            decoded = jwt.decode(token, OctKey.import_key(self.jwt_secret), algorithms=["HS256"])
        except jose_errors.BadSignatureError:
            raise AuthError("the bearer token's signature does not verify") from None
        except (jose_errors.UnsupportedAlgorithmError, jose_errors.MissingAlgorithmError):
            raise AuthError("the bearer token must be signed with HS256") from None
        except (jose_errors.JoseError, ValueError, TypeError):
            raise AuthError("the bearer token is not a well-formed JWT") from None
        return _claims_user(decoded.claims, "bearer token")

    def session_user(self, token: str) -> User:
        """The user of a next-auth v4 session token (encrypted JWT), or `AuthError`."""
        if not self.nextauth_secret:
            raise AuthError("session cookies are not accepted here: NEXTAUTH_SECRET is not set")
        try:
            decoded = jwt.decode(
                token,
                nextauth_key(self.nextauth_secret),
                algorithms=_NEXTAUTH_ALGORITHMS,
                registry=JWERegistry(algorithms=_NEXTAUTH_ALGORITHMS),
            )
        except (jose_errors.UnsupportedAlgorithmError, jose_errors.MissingAlgorithmError):
            raise AuthError("the session cookie must be a dir/A256GCM JWE (next-auth v4)") from None
        except (jose_errors.JoseError, ValueError, TypeError):
            raise AuthError(
                "the session cookie cannot be decrypted with NEXTAUTH_SECRET "
                "(malformed, forged, or from another secret)"
            ) from None
        return _claims_user(decoded.claims, "session cookie")


def request_user(
    authenticator: Authenticator,
    local_user: User,
    authorization: str | None,
    cookies: Mapping[str, str],
) -> User:
    """The user of a request's credentials (its `Authorization` header, else its cookies).

    Without any secret configured (dev mode only) every request is `local_user`. The REST routes
    and the MCP endpoint both ask this, so that they accept exactly the same callers.
    """
    if not authenticator.enabled:
        return local_user
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("the Authorization header must be 'Bearer <JWT>'")
        return authenticator.bearer_user(token.strip())
    cookie = session_cookie(cookies)
    if cookie is not None:
        return authenticator.session_user(cookie)
    raise AuthError(
        "missing credentials: send 'Authorization: Bearer <JWT>' signed with APPSYNC_JWT_SECRET, "
        "or the next-auth session cookie"
    )
