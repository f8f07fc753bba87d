"""The `appsync` command and the processes it runs (uvicorn with limits, a local `inngest dev`)."""

from appsync.cli.main import main

__all__ = ["main"]
