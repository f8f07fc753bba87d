"""What only the SQLite file store does: persistence, its file checks, two processes on one file."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from appsync.index.base import StoreConfigError
from appsync.index.factory import open_index
from appsync.index.sqlite import sqlite_path
from harness.paths import ROOT
from harness.stores import STRIPE_OPS, XERO, batch, record


def test_the_index_survives_closing_and_reopening(tmp_path: Path) -> None:
    """Rows written before close are there after reopening the file."""
    url = f"sqlite:///{tmp_path / 'index.sqlite3'}"

    async def scenario() -> int:
        index = await open_index(url, dimensions=4)
        await index.upsert(batch(STRIPE_OPS))
        await index.close()
        reopened = await open_index(url, dimensions=4)
        try:
            return (await reopened.stats("alice")).operations
        finally:
            await reopened.close()

    assert 3 == asyncio.run(scenario())


def test_a_file_made_for_other_dimensions_is_refused(tmp_path: Path) -> None:
    """Opening a 4-dimension file for a 384-dimension model says what to do."""
    url = f"sqlite:///{tmp_path / 'index.sqlite3'}"

    async def scenario() -> None:
        await (await open_index(url, dimensions=4)).close()
        await open_index(url, dimensions=384)

    with pytest.raises(StoreConfigError, match="holds 4-dimensional vectors, the model makes 384"):
        asyncio.run(scenario())


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://relative.db", "sqlite:///<relative path>"),
        ("sqlite:///dir/", "names no file"),
        ("mysql://host/db", "unknown store"),
    ],
)
def test_a_bad_index_url_names_the_setting(url: str, message: str) -> None:
    """An index URL the factory cannot open is an error naming APPSYNC_INDEX_URL."""
    with pytest.raises(StoreConfigError, match="APPSYNC_INDEX_URL") as raised:
        asyncio.run(open_index(url, dimensions=4))
    assert message in str(raised.value)


def test_relative_and_absolute_sqlite_urls() -> None:
    """Three slashes then a relative path; four for an absolute one."""
    assert (Path("data/i.db"), Path("/var/i.db")) == (
        sqlite_path("sqlite:///data/i.db"),
        sqlite_path("sqlite:////var/i.db"),
    )


_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from appsync.index.factory import open_index
    from harness.stores import XERO, batch, record

    async def main() -> None:
        index = await open_index(sys.argv[1], dimensions=4)
        for n in range(40):
            await index.upsert(batch([record(f"Other{n}", "other op")], url=XERO, total=40))
        await index.close()

    asyncio.run(main())
    """
)


def test_two_processes_write_the_same_file(tmp_path: Path) -> None:
    """A second process writing one source while this one writes another: no row is lost."""
    url = f"sqlite:///{tmp_path / 'index.sqlite3'}"
    asyncio.run(_create(url))
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, url], cwd=ROOT)  # noqa: S603 - this interpreter

    async def write_here() -> int:
        index = await open_index(url, dimensions=4)
        try:
            for n in range(40):
                ops = [record(f"Mine{n}", "my op")]
                await index.upsert(
                    batch(ops, urls=("http://specs.test/stripe.json", XERO), total=40)
                )
            writer.wait(timeout=60)
            return (await index.stats("alice")).operations
        finally:
            await index.close()

    assert 80 == asyncio.run(write_here())
    assert 0 == writer.returncode


async def _create(url: str) -> None:
    await (await open_index(url, dimensions=4)).close()
