"""Behaviour tests; the harness they share lives in the top-level `harness` package."""

import pytest

# Its checks fail like a test's own asserts, with the values shown.
pytest.register_assert_rewrite("harness")
