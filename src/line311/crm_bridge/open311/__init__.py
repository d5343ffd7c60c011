"""Open311 GeoReport v2 under ``/open311/v2/``: services, service definitions, requests, tokens.

render.py   JSON and XML bodies (the spec's element names)
parse.py    form and query parsing/validation (pure: no I/O)
routes.py   the FastAPI router
"""
