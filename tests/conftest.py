"""Every test starts from a clean ``ERRAND_*`` environment: a developer's shell settings
(``ERRAND_DATABASE_URL``, ``ERRAND_MODEL_URL``, ...) must not decide what a test touches.
Only ``ERRAND_TEST_*`` (where the test PostgreSQL and Redis are) passes through."""

from __future__ import annotations

import os

import pytest

for _name in [n for n in os.environ if n.startswith("ERRAND_") and not n.startswith("ERRAND_TEST_")]:
    del os.environ[_name]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``pytest -n`` (`scripts/check`), the tests that run the embedded model share one
    worker (``--dist loadgroup``): two at once would each get half the cores and outlast
    their budgets, while the many short tests fill the other workers."""
    for item in items:
        if item.get_closest_marker("slow") is not None:
            item.add_marker(pytest.mark.xdist_group("embedded_model"))
