"""ASGI entry point for servers that import an app factory.

`uvicorn --factory appsync.asgi:create_app` builds the app from the environment at start, never at
import.
"""

from appsync.app import create_app

__all__ = ["create_app"]
