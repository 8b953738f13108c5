"""`queuectl serve`: the HTTP front end (REST API, dashboard, /metrics).

Only `queuectl serve` imports this package; it needs the `web` extra (Litestar, uvicorn).
"""
