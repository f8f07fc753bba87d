"""The services one app instance uses, built once by `create_app` and handed to routes."""

from __future__ import annotations

from dataclasses import dataclass

import inngest

from appsync.app_settings import AppSettingsSource
from appsync.auth import Authenticator
from appsync.config import ServiceSettings
from appsync.events import User
from appsync.fetching import SpecFetcher
from appsync.sender import EventSender


@dataclass(frozen=True, slots=True)
class Services:
    """Everything routes and functions share within one app instance."""

    settings: ServiceSettings
    client: inngest.Inngest
    app_settings: AppSettingsSource
    sender: EventSender
    authenticator: Authenticator
    fetcher: SpecFetcher

    @property
    def local_user(self) -> User:
        """The user anonymous requests run as while no auth secret is configured."""
        return self.settings.local_user
