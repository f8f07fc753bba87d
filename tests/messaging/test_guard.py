"""The production guard's check of `X-Inngest-Signature` before the SDK verifies its HMAC."""

from __future__ import annotations

import pytest

from appsync.messaging.guard import signature_problem

NOW = 1_800_000_000.0


def test_a_fresh_signature_passes() -> None:
    """A signature made a few seconds ago is left to the SDK's HMAC check."""
    assert signature_problem(f"t={int(NOW) - 3}&s=ab12", NOW, 300) is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "the request is not signed (X-Inngest-Signature is missing)"),
        ("", "the request is not signed (X-Inngest-Signature is missing)"),
        ("s=ab12", "X-Inngest-Signature is malformed: expected 't=<unix seconds>&s=<hex HMAC>'"),
        (
            "t=abc&s=ab12",
            "X-Inngest-Signature is malformed: expected 't=<unix seconds>&s=<hex HMAC>'",
        ),
        (
            f"t={int(NOW)}",
            "X-Inngest-Signature is malformed: expected 't=<unix seconds>&s=<hex HMAC>'",
        ),
        (
            "t=\u00b2&s=ab",  # a superscript two: a digit to str.isdigit, not to int()
            "X-Inngest-Signature is malformed: expected 't=<unix seconds>&s=<hex HMAC>'",
        ),
        (
            "t=\u0661\u0662&s=ab",  # Arabic-Indic digits: int() reads them, Inngest sends none
            "X-Inngest-Signature is malformed: expected 't=<unix seconds>&s=<hex HMAC>'",
        ),
    ],
)
def test_unsigned_and_malformed_headers_say_why(header: str | None, expected: str) -> None:
    """A missing or malformed header is refused with the reason."""
    assert expected == signature_problem(header, NOW, 300)


def test_an_old_signature_is_refused_naming_its_age() -> None:
    """A captured call replayed 10 minutes later is refused."""
    problem = signature_problem(f"t={int(NOW) - 600}&s=ab12", NOW, 300)

    assert (
        "the signature is 600 s old; signatures older than 300 s are refused "
        "(a captured call cannot be replayed)"
    ) == problem


def test_a_signature_from_the_future_is_refused() -> None:
    """A timestamp far ahead of this clock is refused too (it would stay valid for longer)."""
    problem = signature_problem(f"t={int(NOW) + 900}&s=ab12", NOW, 300)

    assert problem is not None
    assert problem.startswith("the signature is 900 s in the future")
