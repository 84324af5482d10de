"""The wallet service (being built: issue 3)."""

from errand.services import Domain

DOMAIN = Domain(
    name="wallet",
    description="wallet",
    keywords=(),
    tools=(),
    seed=lambda session: None,
    is_seeded=lambda session: True,
)

__all__ = ["DOMAIN"]
