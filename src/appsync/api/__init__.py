"""HTTP API: dependencies, error bodies and routes."""
