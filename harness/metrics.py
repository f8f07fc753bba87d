"""Reading `GET /metrics` as tests and the benchmark do: samples by name and labels."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of a Prometheus text exposition, keyed by (name, labels)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(base_url: str) -> Samples:
    """The samples a replica exports at `<base_url>/metrics` (its text format checked)."""
    response = httpx.get(f"{base_url}/metrics", timeout=10.0, trust_env=False)
    response.raise_for_status()
    assert response.headers["content-type"].startswith("text/plain"), response.headers
    return parse(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value (0 when absent)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(scrapes: list[Samples], name: str, **labels: str) -> float:
    """One sample summed over several replicas' scrapes."""
    return sum(value(samples, name, **labels) for samples in scrapes)
