"""appsync: sync an app's OpenAPI specs into vector-index documents through Inngest."""

__version__ = "0.1.0"
