"""Who may trigger a sync: HS256 bearer JWTs and real next-auth v4 session cookies."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import OctKey

from appsync.app import create_app
from appsync.auth import Authenticator, AuthError, session_cookie
from appsync.cli.dev_server import free_port
from appsync.settings.errors import SettingsError
from appsync.settings.service import load_service_settings
from appsync.users import User
from harness.paths import ROOT
from harness.settings import make_settings, write_spec_urls

JWT_SECRET = "appsync-test-jwt-secret-0123456789abcdef"
# Made by the real next-auth 4 (tests/data/nextauth_v4_vectors.js), not by the code under test.
VECTORS: dict[str, Any] = json.loads(
    (ROOT / "tests" / "data" / "nextauth_v4_vectors.json").read_text()
)
ADA = User(id="user-42", email="ada@example.com", name="Ada Lovelace")


def bearer(claims: dict[str, Any], secret: str = JWT_SECRET, alg: str = "HS256") -> str:
    """A signed JWT with `claims`."""
    return jwt.encode({"alg": alg}, claims, OctKey.import_key(secret), algorithms=[alg])


def claims(**extra: Any) -> dict[str, Any]:
    """Claims of a token valid for an hour, with `extra` on top.

    Parametrised cases make their tokens when the tests are collected: a minute ran out before
    they ran in a slow full run.
    """
    return {
        "sub": "user-7",
        "email": "grace@example.com",
        "name": "Grace",
        "exp": int(time.time()) + 3600,
    } | extra


@pytest.fixture
def authenticator() -> Authenticator:
    """Both ways in enabled."""
    return Authenticator(jwt_secret=JWT_SECRET, nextauth_secret=VECTORS["secret"])


def test_a_valid_bearer_token_gives_its_user(authenticator: Authenticator) -> None:
    """`sub` → id, `email`, `name`."""
    assert User(id="user-7", email="grace@example.com", name="Grace") == authenticator.bearer_user(
        bearer(claims())
    )


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (bearer(claims(exp=int(time.time()) - 3600)), "has expired"),
        (bearer({"sub": "user-7"}), "no 'exp' claim"),
        (bearer(claims(sub="")), "no 'sub' claim"),
        (
            bearer(claims(), secret="a-different-secret-of-some-length-xx"),
            "signature does not verify",
        ),
        (bearer(claims(), alg="HS512"), "must be signed with HS256"),
        ("not.a.jwt", "not a well-formed JWT"),
        ("garbage", "not a well-formed JWT"),
        (VECTORS["valid"], "not a well-formed JWT"),
    ],
    ids=["expired", "no-exp", "no-sub", "forged", "wrong-algorithm", "malformed", "garbage", "jwe"],
)
def test_a_bad_bearer_token_is_refused_with_the_reason(
    authenticator: Authenticator, token: str, reason: str
) -> None:
    """Expired, forged, malformed or wrongly signed tokens say why they fail."""
    with pytest.raises(AuthError, match=reason):
        authenticator.bearer_user(token)


def test_an_unsigned_alg_none_token_is_refused(authenticator: Authenticator) -> None:
    """A token claiming `alg: none` never passes."""
    header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"  # {"alg":"none","typ":"JWT"}
    payload = bearer(claims()).split(".")[1]
    with pytest.raises(AuthError):
        authenticator.bearer_user(f"{header}.{payload}.")


def test_a_real_next_auth_session_cookie_gives_its_user(authenticator: Authenticator) -> None:
    """A cookie made by next-auth 4's own `encode()` decrypts to its user."""
    assert ADA == authenticator.session_user(VECTORS["valid"])


def test_a_chunked_next_auth_session_cookie_is_joined_in_order(
    authenticator: Authenticator,
) -> None:
    """`.0`, `.1`, `.2` chunks from next-auth's SessionStore are joined, in any cookie order."""
    shuffled = dict(reversed(list(VECTORS["chunked"].items())))
    token = session_cookie(shuffled)

    assert token is not None
    assert ADA == authenticator.session_user(token)


@pytest.mark.parametrize(
    ("vector", "reason"),
    [("expired", "has expired"), ("other_secret", "cannot be decrypted")],
)
def test_a_bad_next_auth_cookie_is_refused_with_the_reason(
    authenticator: Authenticator, vector: str, reason: str
) -> None:
    """Expired cookies and cookies of another NEXTAUTH_SECRET are refused."""
    with pytest.raises(AuthError, match=reason):
        authenticator.session_user(VECTORS[vector])


def test_a_forged_next_auth_cookie_is_refused(authenticator: Authenticator) -> None:
    """Flipping one character of the ciphertext breaks the GCM tag."""
    header, key, iv, ciphertext, tag = VECTORS["valid"].split(".")
    flipped = ("A" if ciphertext[0] != "A" else "B") + ciphertext[1:]
    with pytest.raises(AuthError, match="cannot be decrypted"):
        authenticator.session_user(f"{header}.{key}.{iv}.{flipped}.{tag}")


def test_the_secure_cookie_name_is_read_too() -> None:
    """`__Secure-next-auth.session-token` (HTTPS deployments) is found like the plain one."""
    assert "abc" == session_cookie({"__Secure-next-auth.session-token": "abc", "other": "x"})
    assert session_cookie({"other": "x"}) is None


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    """The app with both secrets set, pointed at a closed port (no event can be sent)."""
    env_file = tmp_path / ".env"
    write_spec_urls(env_file, ["http://127.0.0.1:9/openapi.json"])
    settings = make_settings(
        inngest_dev=f"http://127.0.0.1:{free_port()}",
        env_file_path=env_file,
        jwt_secret=JWT_SECRET,
        nextauth_secret=VECTORS["secret"],
        send_timeout=0.5,
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("headers", "cookies", "reason"),
    [
        ({}, {}, "missing credentials"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, {}, "must be 'Bearer <JWT>'"),
        ({"Authorization": f"Bearer {bearer(claims(exp=1))}"}, {}, "has expired"),
        ({}, {"next-auth.session-token": VECTORS["other_secret"]}, "cannot be decrypted"),
    ],
    ids=["none", "basic", "expired-bearer", "foreign-cookie"],
)
def test_the_route_answers_401_with_a_json_reason(
    client: TestClient, headers: dict[str, str], cookies: dict[str, str], reason: str
) -> None:
    """Missing or bad credentials: 401, a JSON body that says why, and no send attempted."""
    client.cookies.clear()
    client.cookies.update(cookies)
    response = client.post("/api/route", headers=headers, json={"data": "data"})

    assert 401 == response.status_code
    assert "unauthorized" == response.json()["error"]
    assert reason in response.json()["message"]
    assert "Bearer" == response.headers["www-authenticate"]


def test_valid_credentials_pass_authentication(client: TestClient) -> None:
    """A valid token or cookie gets past auth, to the send (which fails: the port is closed)."""
    token = bearer(claims())
    by_token = client.post("/api/route", headers={"Authorization": f"Bearer {token}"})
    client.cookies.update({"next-auth.session-token": VECTORS["valid"]})
    by_cookie = client.post("/api/openapi/sync")

    assert ["event_not_sent"] * 2 == [by_token.json()["error"], by_cookie.json()["error"]]


def test_production_mode_refuses_to_start_naming_every_missing_setting() -> None:
    """No INNGEST_DEV: the signing key, the event key and an auth secret are all required."""
    with pytest.raises(SettingsError) as error:
        load_service_settings(_env_file=None)

    message = str(error.value)
    for name in (
        "INNGEST_SIGNING_KEY",
        "INNGEST_EVENT_KEY",
        "APPSYNC_JWT_SECRET or NEXTAUTH_SECRET",
    ):
        assert name in message


def test_dev_mode_without_a_secret_warns_that_posts_are_anonymous(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The start logs a warning naming the local user anonymous POSTs run as."""
    write_spec_urls(tmp_path / ".env", ["http://127.0.0.1:9/openapi.json"])
    settings = make_settings(inngest_dev="1", env_file_path=tmp_path / ".env")
    with caplog.at_level("WARNING"), TestClient(create_app(settings)):
        pass

    assert any(
        "anonymous POSTs" in record.message and record.levelname == "WARNING"
        for record in caplog.records
    )
