"""docker-compose.yml, validated by compose-go (the parser Docker Compose uses) — no engine here."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness.paths import ROOT, cluster_versions, inngest_version, postgres_versions

CHECKER_VARIABLE = "APPSYNC_COMPOSECHECK_BIN"


def compose_check(path: Path, profiles: str = "") -> subprocess.CompletedProcess[str]:
    """Run the compose-go checker (built by scripts/build-composecheck) on `path`."""
    binary = os.environ.get(CHECKER_VARIABLE)
    if not binary:
        pytest.fail(f"{CHECKER_VARIABLE} is not set: run the tests through scripts/test")
    return subprocess.run(  # noqa: S603 - our own checker on our own file
        [binary, str(path)],
        capture_output=True,
        text=True,
        cwd=path.parent,
        check=False,
        env=os.environ | {"COMPOSE_PROFILES": profiles},
    )


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    """The normalized project compose-go loads from docker-compose.yml."""
    result = compose_check(ROOT / "docker-compose.yml")
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


@pytest.fixture(scope="module")
def postgres_project() -> dict[str, Any]:
    """The project with the `postgres` profile on (`docker compose --profile postgres up`)."""
    result = compose_check(ROOT / "docker-compose.yml", profiles="postgres")
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


@pytest.fixture(scope="module")
def cluster_project() -> dict[str, Any]:
    """The project with the `cluster` profile on (`docker compose --profile cluster up`)."""
    result = compose_check(ROOT / "docker-compose.yml", profiles="cluster")
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


def test_the_inngest_image_is_the_pinned_version(project: dict[str, Any]) -> None:
    """The compose image runs the same Inngest version the tests build from the Go module."""
    assert f"inngest/inngest:{inngest_version()}" == project["services"]["inngest"]["image"]


def test_the_dev_server_syncs_the_app_and_the_app_points_at_it(project: dict[str, Any]) -> None:
    """`inngest dev -u http://app:8000/api/inngest`, and the app in dev mode pointed back."""
    inngest, app = project["services"]["inngest"], project["services"]["app"]
    assert ["inngest", "dev", "--no-discovery", "-u", "http://app:8000/api/inngest"] == inngest[
        "command"
    ]
    assert {"INNGEST_DEV": "1", "INNGEST_BASE_URL": "http://inngest:8288"}.items() <= app[
        "environment"
    ].items()
    assert ("127.0.0.1", "8288") == (
        inngest["ports"][0]["host_ip"],
        inngest["ports"][0]["published"],
    )
    assert "service_healthy" == app["depends_on"]["inngest"]["condition"]
    assert inngest["healthcheck"]["test"]
    assert app["healthcheck"]["test"]


def test_the_app_image_runs_as_a_non_root_user() -> None:
    """The Dockerfile switches to an unprivileged user before its command."""
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users
    assert users[-1] not in {"root", "0"}
    assert any(line.startswith("FROM python:3.11-slim") for line in lines)


def test_the_checker_rejects_an_invalid_compose_file(tmp_path: Path) -> None:
    """A service depending on an undefined one fails validation (the check can fail)."""
    bad = tmp_path / "docker-compose.yml"
    bad.write_text("services:\n  app:\n    image: x\n    depends_on: [missing]\n")

    result = compose_check(bad)

    assert result.returncode != 0
    assert "missing" in result.stderr


def test_the_postgres_stack_runs_only_with_its_profile(
    project: dict[str, Any], postgres_project: dict[str, Any]
) -> None:
    """Plain `up` runs the dev server and the app; the profile adds PostgreSQL and its app."""
    assert ["app", "inngest"] == sorted(project["services"])
    assert ["app", "app-postgres", "inngest", "inngest-postgres", "postgres"] == sorted(
        postgres_project["services"]
    )


def test_the_postgres_image_runs_the_versions_the_tests_run(
    postgres_project: dict[str, Any],
) -> None:
    """pgvector/pgvector:<pgvector>-pg<major>, as pinned for scripts/postgres, with a volume."""
    versions = postgres_versions()
    postgres = postgres_project["services"]["postgres"]
    major = versions["POSTGRES_VERSION"].split(".")[0]
    assert f"pgvector/pgvector:{versions['PGVECTOR_VERSION']}-pg{major}" == postgres["image"]
    (volume,) = postgres["volumes"]
    assert ("volume", "postgres-data", "/var/lib/postgresql") == (
        volume["type"],
        volume["source"],
        volume["target"],
    )
    assert postgres["healthcheck"]["test"]


def test_the_postgres_app_indexes_into_postgres_through_its_own_dev_server(
    postgres_project: dict[str, Any],
) -> None:
    """app-postgres: APPSYNC_INDEX_URL names the postgres service; its dev server syncs it only."""
    services = postgres_project["services"]
    app, inngest, postgres = (
        services["app-postgres"],
        services["inngest-postgres"],
        services["postgres"],
    )
    environment = postgres["environment"]
    expected_url = (
        f"postgresql://{environment['POSTGRES_USER']}:{environment['POSTGRES_PASSWORD']}"
        f"@postgres:5432/{environment['POSTGRES_DB']}"
    )
    assert expected_url == app["environment"]["APPSYNC_INDEX_URL"]
    assert "http://inngest-postgres:8288" == app["environment"]["INNGEST_BASE_URL"]
    assert ["inngest", "dev", "--no-discovery", "-u", "http://app-postgres:8000/api/inngest"] == (
        inngest["command"]
    )
    assert {"inngest-postgres": "service_healthy", "postgres": "service_healthy"} == {
        name: dependency["condition"] for name, dependency in app["depends_on"].items()
    }
    assert {"8001", "8289"} == {app["ports"][0]["published"], inngest["ports"][0]["published"]}


def test_the_cluster_profile_runs_the_production_topology(
    project: dict[str, Any], cluster_project: dict[str, Any]
) -> None:
    """PostgreSQL, Redis, `inngest start`, two app replicas and nginx, only with the profile."""
    assert "redis" not in project["services"]
    assert ["app", "app-cluster", "inngest", "inngest-cluster", "lb", "postgres", "redis"] == (
        sorted(cluster_project["services"])
    )
    assert 2 == cluster_project["services"]["app-cluster"]["deploy"]["replicas"]


def test_the_cluster_inngest_server_runs_without_its_ui_on_postgres_and_redis(
    cluster_project: dict[str, Any],
) -> None:
    """`inngest start --no-ui` on the `inngest` database and Redis, syncing the load balancer."""
    services = cluster_project["services"]
    inngest, postgres = services["inngest-cluster"], services["postgres"]
    command = inngest["command"]
    options = dict(zip(command[3::2], command[4::2], strict=True))
    password = postgres["environment"]["POSTGRES_PASSWORD"]

    assert ["inngest", "start", "--no-ui"] == command[:3]
    assert {
        "--postgres-uri": f"postgres://appsync:{password}@postgres:5432/inngest?sslmode=disable",
        "--redis-uri": "redis://redis:6379/0",
        "--sdk-url": "http://lb:8080/api/inngest",
    } == options
    assert f"inngest/inngest:{inngest_version()}" == inngest["image"]
    assert "always" == inngest["restart"]  # it exits when Redis goes away
    assert "ports" not in inngest
    assert "CREATE DATABASE inngest;" in cluster_project["configs"]["inngest-database"]["content"]
    assert "/docker-entrypoint-initdb.d/inngest.sql" == postgres["configs"][0]["target"]


def test_the_cluster_replicas_run_in_production_mode_behind_the_load_balancer(
    cluster_project: dict[str, Any],
) -> None:
    """The replicas call the server, index into PostgreSQL and name the LB as their one URL."""
    services = cluster_project["services"]
    app, lb = services["app-cluster"]["environment"], services["lb"]
    nginx = cluster_project["configs"]["lb-config"]["content"]

    assert "INNGEST_DEV" not in app
    assert {
        "APPSYNC_PUBLIC_URL": "http://lb:8080",
        "INNGEST_BASE_URL": "http://inngest-cluster:8288",
    }.items() <= app.items()
    assert app["APPSYNC_INDEX_URL"].endswith("@postgres:5432/appsync")
    assert {"INNGEST_SIGNING_KEY", "INNGEST_EVENT_KEY", "APPSYNC_JWT_SECRET"} <= set(app)
    assert "server app-cluster:8000" in nginx
    assert "listen 8080;" in nginx
    assert "location = /metrics { return 404; }" in nginx
    assert "$http_host" in nginx  # `$$` in the file: compose leaves nginx's variables alone
    assert (8080, "8002") == (lb["ports"][0]["target"], lb["ports"][0]["published"])


def test_the_cluster_images_run_the_versions_the_scripts_run(
    cluster_project: dict[str, Any],
) -> None:
    """Redis and nginx images of the versions scripts/redis and scripts/cluster run (Debian's)."""
    versions = cluster_versions()
    services = cluster_project["services"]

    assert f"redis:{versions['REDIS_VERSION']}" == services["redis"]["image"]
    assert f"nginx:{versions['NGINX_VERSION']}" == services["lb"]["image"]
    assert "--appendonly" in services["redis"]["command"]
