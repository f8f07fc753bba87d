"""Settings: how this process runs, and the app settings that travel in events.

`service` (the service settings), `app_settings`, the strict `.env` reader (`envfile`), secrets
(`keys`), and the messages a bad setting gets (`errors`).
"""
