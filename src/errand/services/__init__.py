"""Built-in services: each domain brings its tables, seed data and tools.

A domain is described by a `Domain`; `builtin_domains()` lists them in a fixed
order, so tool lists (and therefore prompts) are stable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from errand.tools import Tool, ToolRegistry


@dataclass(frozen=True)
class Domain:
    """One built-in service domain."""

    name: str
    """Short name, also the `domain` of its tools (``realestate``)."""
    description: str
    """One line saying what the domain covers."""
    tools: tuple[Tool, ...]
    """The domain's tools, in a fixed order."""
    seed: Callable[[Session], None]
    """Fill empty tables with the deterministic seed data."""
    is_seeded: Callable[[Session], bool]
    """Whether the seed data is already there."""
    tables: tuple[str, ...] = field(default=())
    """Names of the domain's tables (for `errand services reset`)."""


def builtin_domains() -> list[Domain]:
    """Every built-in domain, in a fixed order."""
    from errand.services.food import DOMAIN as food
    from errand.services.realestate import DOMAIN as realestate
    from errand.services.shop import DOMAIN as shop
    from errand.services.travel import DOMAIN as travel
    from errand.services.wallet import DOMAIN as wallet

    return [realestate, travel, food, shop, wallet]


def builtin_registry() -> ToolRegistry:
    """A registry with the tools of every built-in domain."""
    return ToolRegistry(t for d in builtin_domains() for t in d.tools)
