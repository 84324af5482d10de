"""errand's database: the SQLAlchemy base every table derives from, engines, and the
migrations of every table (services, runs, keys), whichever layer defines it."""
