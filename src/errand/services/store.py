"""Open the services database: create tables and seed them on first use."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from errand.db.engine import Base, make_engine, session_factory, transaction
from errand.db.metadata import import_all_models
from errand.db.migrate import upgrade
from errand.errors import ConfigError
from errand.services import Domain, builtin_domains


@dataclass
class ServiceStore:
    """The services database, ready to use: tables created and seeded."""

    engine: Engine
    sessions: sessionmaker[Session]

    @classmethod
    def open(cls, url: str, *, seed: bool = True) -> ServiceStore:
        """Connect to ``url``, create missing tables and seed empty domains."""
        engine = make_engine(url)
        store = cls(engine=engine, sessions=session_factory(engine))
        domains = builtin_domains()  # imports the models so their tables are known
        try:
            with engine.connect():
                pass
        except OperationalError as exc:
            engine.dispose()
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise ConfigError(
                f"Cannot open the database {engine.url.render_as_string(hide_password=True)}: {reason}. "
                "Check ERRAND_DATABASE_URL (host, port, database, permissions), or unset it to use "
                "SQLite under ERRAND_HOME."
            ) from None
        upgrade(engine)  # Alembic: create or bring the schema up to date
        if seed:
            store.seed(domains)
        return store

    def seed(self, domains: list[Domain] | None = None) -> list[str]:
        """Seed every domain that has no data yet; returns the names seeded."""
        seeded = []
        for d in domains or builtin_domains():
            with transaction(self.sessions) as s:
                if not d.is_seeded(s):
                    d.seed(s)
                    seeded.append(d.name)
        return seeded

    def reset(self) -> None:
        """Drop every table, create them again and seed from scratch."""
        import_all_models()
        Base.metadata.drop_all(self.engine)
        with self.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade(self.engine)
        self.seed()

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()
