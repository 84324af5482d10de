"""errand's HTTP server: OpenAI-compatible chat completions, the runs API, keys, limits, health.

`create_app` (in `errand.server.app`) builds the FastAPI application; ``errand serve`` runs it on
uvicorn. This package's ``__init__`` imports nothing heavy: the database metadata imports
`errand.server.models` without FastAPI.
"""
