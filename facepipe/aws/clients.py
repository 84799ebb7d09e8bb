"""boto3 clients, made once per process (as a warm Lambda keeps them) and resettable for the local stack."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

_lock = threading.Lock()
_clients: dict[str, Any] = {}
# Standard retry mode: exponential backoff with jitter on throttling and transient errors.
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=32)


def client(service: str) -> Any:
    """A shared client for ``service``; endpoint and region come from the standard AWS_* environment."""
    with _lock:
        if service not in _clients:
            _clients[service] = boto3.session.Session().client(service, config=CLIENT_CONFIG)  # type: ignore[call-overload]
        return _clients[service]


def resource(service: str) -> Any:
    """A boto3 resource for ``service`` (for its helpers, such as DynamoDB's batch writer)."""
    return boto3.session.Session().resource(service, config=CLIENT_CONFIG)  # type: ignore[call-overload]


def reset_clients() -> None:
    """Forget cached clients (the local stack calls this when it points the process at a new endpoint)."""
    with _lock:
        _clients.clear()
