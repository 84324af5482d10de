"""What every run did and cost: OpenTelemetry spans built from its events, and prices.

Every front end builds its agent with `errand.runtime.build_agent`, which makes it a
`TracedAgent`: the CLI, durable runs (worker, server, ``errand run``) and chat completions
are traced in this one place, from the same event stream they render.
"""
