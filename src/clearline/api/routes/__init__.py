"""One router per domain; `api.app.ROUTERS` lists them, one line each."""
