"""The local stack's endpoint and who speaks to it: the client factory the stack owns.

Every client of the local stack is made here with its endpoint, region and credentials given explicitly,
so nothing depends on (or changes) this process's ``AWS_*`` environment, and two stacks in one process
never see each other's settings.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import boto3

from facepipe.aws.clients import CLIENT_CONFIG
from facepipe.local import REGION


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def env(self) -> dict[str, str]:
        """As the AWS_* variables every SDK reads."""
        env = {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}
        if self.session_token:
            env["AWS_SESSION_TOKEN"] = self.session_token
        return env


# moto's placeholders: the endpoint on loopback accepts any, and no real account is ever reached.
LOCAL_CREDENTIALS = Credentials("local", "local")


@dataclass(frozen=True)
class Endpoint:
    """An AWS-compatible endpoint on loopback, as one principal."""

    url: str
    credentials: Credentials = LOCAL_CREDENTIALS
    region: str = REGION

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Endpoint:
        """From settings as :meth:`env` (or `facepipe local --env-file`) writes them."""
        credentials = Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env.get("AWS_SESSION_TOKEN"))
        return cls(env["AWS_ENDPOINT_URL"], credentials, env.get("AWS_DEFAULT_REGION", REGION))

    def as_principal(self, credentials: Credentials) -> Endpoint:
        return dataclasses.replace(self, credentials=credentials)

    def _session(self) -> boto3.session.Session:
        return boto3.session.Session(
            aws_access_key_id=self.credentials.access_key_id,
            aws_secret_access_key=self.credentials.secret_access_key,
            aws_session_token=self.credentials.session_token,
            region_name=self.region,
        )

    def client(self, service: str) -> Any:
        return self._session().client(service, endpoint_url=self.url, config=CLIENT_CONFIG)  # type: ignore[call-overload]

    def resource(self, service: str) -> Any:
        return self._session().resource(service, endpoint_url=self.url, config=CLIENT_CONFIG)  # type: ignore[call-overload]

    def env(self) -> dict[str, str]:
        """The same settings as environment variables, for a process of its own (a worker, a device, a shell)."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            **self.credentials.env(),
        }
