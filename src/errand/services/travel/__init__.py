"""The travel service (being built: issue 3)."""

from errand.services import Domain

DOMAIN = Domain(
    name="travel",
    description="travel",
    keywords=(),
    tools=(),
    seed=lambda session: None,
    is_seeded=lambda session: True,
)

__all__ = ["DOMAIN"]
