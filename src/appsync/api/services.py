"""The services one app instance uses, built once by `create_app` and handed to routes."""

from __future__ import annotations

from dataclasses import dataclass

from appsync.app_settings import AppSettingsSource
from appsync.auth import Authenticator
from appsync.config import ServiceSettings
from appsync.events import User
from appsync.search import Searcher
from appsync.sender import EventSender


@dataclass(frozen=True, slots=True)
class Services:
    """What the routes use, built once per app instance."""

    settings: ServiceSettings
    app_settings: AppSettingsSource
    sender: EventSender
    authenticator: Authenticator
    searcher: Searcher

    @property
    def local_user(self) -> User:
        """The user anonymous requests run as while no auth secret is configured."""
        return self.settings.local_user
