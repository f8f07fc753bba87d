"""The `appsync` command as a person runs it (a subprocess of the installed console script)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import appsync
from harness.paths import spec_files
from harness.spec_server import SpecServer


@pytest.mark.parametrize("spec", spec_files(), ids=lambda path: path.name)
def test_preview_prints_one_json_line_per_document(spec: Path) -> None:
    """Each line is one document; the uids are unique; nothing else is printed."""
    result = appsync("preview", str(spec))

    assert 0 == result.returncode, result.stderr
    lines = result.stdout.splitlines()
    documents = [json.loads(line) for line in lines]
    assert len({document["uid"] for document in documents}) == len(lines)
    assert all({"uid", "text", "metadata"} == set(document) for document in documents)


def test_preview_fetches_a_url(spec_server: SpecServer) -> None:
    """A URL is fetched under the service's limits, with the same documents as the file."""
    by_url = appsync("preview", spec_server.url("specs/redocly_museum.yaml"))
    by_file = appsync(
        "preview", str(next(p for p in spec_files() if p.name == "redocly_museum.yaml"))
    )

    assert 0 == by_url.returncode, by_url.stderr
    assert by_file.stdout == by_url.stdout


def test_preview_of_a_bad_spec_says_why_and_fails(tmp_path: Path) -> None:
    """An invalid spec: exit 1, the reason on stderr, nothing on stdout."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("openapi: 3.0.0\npaths: [unclosed\n")

    result = appsync("preview", str(bad))

    assert (1, "") == (result.returncode, result.stdout)
    assert "appsync: invalid YAML" in result.stderr


def test_help_explains_every_command() -> None:
    """`--help` names the commands; `preview --help` says what it prints."""
    top = appsync("--help")
    preview = appsync("preview", "--help")

    assert all(command in top.stdout for command in ("serve", "dev", "preview"))
    assert "one JSON object per line" in preview.stdout


def test_serve_with_an_invalid_setting_stops_naming_it(tmp_path: Path) -> None:
    """A bad APPSYNC_PORT stops the start with exit 2 and a message naming the variable."""
    result = appsync("serve", env={"INNGEST_DEV": "1", "APPSYNC_PORT": "eighty"}, cwd=tmp_path)

    assert 2 == result.returncode
    assert "APPSYNC_PORT" in result.stderr
    assert "'eighty'" in result.stderr


def test_serve_in_production_mode_without_secrets_names_every_one(tmp_path: Path) -> None:
    """No INNGEST_DEV and no secrets: exit 2 naming each missing setting."""
    result = appsync("serve", cwd=tmp_path)

    assert 2 == result.returncode
    for name in (
        "INNGEST_SIGNING_KEY",
        "INNGEST_EVENT_KEY",
        "APPSYNC_JWT_SECRET or NEXTAUTH_SECRET",
    ):
        assert name in result.stderr
