"""The REST API: `create_app(settings, hub=...)` builds it (see app.py)."""

from allroads.api.app import create_app

__all__ = ["create_app"]
