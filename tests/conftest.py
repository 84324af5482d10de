"""Every test starts from a clean ``ERRAND_*`` environment: a developer's shell settings
(``ERRAND_DATABASE_URL``, ``ERRAND_MODEL_URL``, ...) must not decide what a test touches.
Only ``ERRAND_TEST_*`` (where the test PostgreSQL and Redis are) passes through."""

from __future__ import annotations

import os

for _name in [n for n in os.environ if n.startswith("ERRAND_") and not n.startswith("ERRAND_TEST_")]:
    del os.environ[_name]
