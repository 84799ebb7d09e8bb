"""The stack's events (facepipe.core.events), delivered locally: to webhooks, HMAC-signed, and to an MQTT broker
with Home Assistant discovery. In AWS the bus's rules and API destinations deliver; moto runs neither, so here a
rule on the bus sends every facepipe event to a queue and one thread delivers each.

**Webhooks.** A POST of the event as EventBridge shapes it (``source``, ``detail-type``, ``detail``, ``time``,
``id``; protocol/facepipe_protocol/schemas/events.schema.json), ``X-Facepipe-Timestamp`` the moment it was sent
(Unix seconds) and ``X-Facepipe-Signature: sha256=<hex>`` the HMAC-SHA256 of ``<timestamp>.<body>`` under the
webhook's secret, ``X-Facepipe-Event`` its kind. A receiver recomputes the signature and refuses a timestamp more
than ``REPLAY_WINDOW_S`` from its clock (:func:`verify`): a captured request cannot be replayed later. Only
``https://`` off loopback (an event names people), and a redirect is a refusal, never followed (the body would go
where nobody configured). A refusal (not 2xx) or no answer is retried with backoff; after the last try the event
is appended to the dead-letter file (JSON lines, with the webhook and the last error; readable by its owner
only, rotated at ``DEAD_LETTER_MAX_BYTES``) and the next event goes on: nothing is lost.

A ``person.erased`` event takes them out of every camera's in-view list at once and is sent on their topic.

**MQTT** (paho): each event on ``<prefix>/<device>/<kind>`` (``<prefix>/attendance/<course>`` for a closed
session) and each person's on ``<prefix>/person/<id>``; each camera's count and names of who is in view on
``<prefix>/<device>/in_view``; and, retained, a Home Assistant discovery config per camera
(``homeassistant/sensor/facepipe_<device>/in_view/config``), so each camera shows in Home Assistant as a sensor
of who is in view. Only the discovery configs are retained: no message naming a person stays at the broker,
so nothing there is beyond erase's reach. A broker with a user and password and TLS is reached with them
(:class:`MqttBroker`). A publish that fails is dead-lettered like a webhook's event; the relay goes on.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from facepipe.core.events import EVENT_SOURCE, EventType
from facepipe.core.hosts import is_loopback
from facepipe.local import ACCOUNT, REGION
from facepipe.local.bridge import received
from facepipe.local.deployer import Deployment
from facepipe.local.endpoint import Endpoint

log = logging.getLogger("facepipe.relay")
# A receiver refuses a webhook whose timestamp is further than this from its clock.
REPLAY_WINDOW_S = 300
DEAD_LETTER_MAX_BYTES = 10 * 1024 * 1024
DEAD_LETTER_KEPT = 3  # rotated files kept beside the current one (.1 newest)


@dataclass(frozen=True)
class Webhook:
    url: str
    secret: str

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"webhook {self.url!r}: not an http(s) URL")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ValueError(
                f"webhook {self.url!r}: plain http off this machine would send people's names in the clear; use https"
            )
        if not self.secret:
            raise ValueError(f"webhook {self.url!r}: no secret to sign with")


@dataclass(frozen=True)
class MqttBroker:
    host: str
    port: int = 1883
    prefix: str = "facepipe"
    discovery_prefix: str = "homeassistant"
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None  # the broker's CA (default: the system's)


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """``sha256=`` and the hex HMAC-SHA256 of ``<timestamp>.<body>`` under ``secret``."""
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, timestamp: str, signed: str, *, now: float | None = None) -> bool:
    """What a receiver checks: the signature over the timestamp and body, and a timestamp within
    ``REPLAY_WINDOW_S`` of its clock (a replayed request fails the one or the other)."""
    if not timestamp.isdigit() or abs((now if now is not None else time.time()) - int(timestamp)) > REPLAY_WINDOW_S:
        return False
    return hmac.compare_digest(signature(secret, body, int(timestamp)), signed)


@dataclass
class RelayCounts:
    delivered: int = 0
    retried: int = 0
    dead_lettered: int = 0
    published: int = 0


class _Mqtt:
    def __init__(self, broker: MqttBroker) -> None:
        import paho.mqtt.client as mqtt

        self.broker = broker
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="facepipe-local-relay")
        if broker.username:
            self.client.username_pw_set(broker.username, broker.password)
        if broker.tls:
            self.client.tls_set(ca_certs=broker.ca_file)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.in_view: dict[str, dict[str, str]] = {}  # device -> id -> name (or id)
        self.announced: set[str] = set()

    def publish(self, topic: str, payload: dict[str, Any], *, retain: bool = False) -> None:
        info = self.client.publish(topic, json.dumps(payload), qos=1, retain=retain)
        info.wait_for_publish(timeout=10)
        if not info.is_published():
            raise ConnectionError(f"MQTT publish to {topic} not acknowledged (rc {info.rc})")

    def deliver(self, event: dict[str, Any]) -> int:
        kind, detail, prefix = event["detail-type"], event["detail"], self.broker.prefix
        sent = 0
        if kind == EventType.ATTENDANCE_CLOSED:
            self.publish(f"{prefix}/attendance/{detail['course']}", event)
            return 1
        if kind == EventType.PERSON_ERASED:
            # Out of every camera's list of who is in view, at once (it would name them until they "left"), and
            # said on their topic, by id only.
            person = detail["person_id"]
            self.publish(f"{prefix}/person/{person}", event)
            for device, view in self.in_view.items():
                if view.pop(person, None) is not None:
                    self.publish(f"{prefix}/{device}/in_view", {"count": len(view), "people": sorted(view.values())})
                    sent += 1
            return sent + 1
        device = detail["device_id"]
        if device not in self.announced:
            self._discovery(device)
        self.publish(f"{prefix}/{device}/{kind}", event)
        sent += 1
        if kind == EventType.PERSON_SEEN:
            self.publish(f"{prefix}/person/{detail['person_id']}", event)
            view = self.in_view.setdefault(device, {})
            if detail["change"] == "entered":
                view[detail["person_id"]] = detail.get("name") or detail["person_id"]
            else:
                view.pop(detail["person_id"], None)
            self.publish(f"{prefix}/{device}/in_view", {"count": len(view), "people": sorted(view.values())})
            sent += 2
        return sent

    def _discovery(self, device: str) -> None:
        state = f"{self.broker.prefix}/{device}/in_view"
        config = {
            "name": "In view",
            "unique_id": f"facepipe_{device}_in_view",
            "state_topic": state,
            "value_template": "{{ value_json.count }}",
            "json_attributes_topic": state,
            "unit_of_measurement": "people",
            "device": {"identifiers": [f"facepipe_{device}"], "name": f"facepipe {device}", "manufacturer": "facepipe"},
        }
        self.publish(f"{self.broker.discovery_prefix}/sensor/facepipe_{device}/in_view/config", config, retain=True)
        self.announced.add(device)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@dataclass
class EventRelay:
    """A rule on the stack's bus to a queue, and the thread that delivers what arrives there."""

    deployment: Deployment
    endpoint: Endpoint
    bus: str
    webhooks: Sequence[Webhook] = ()
    mqtt: MqttBroker | None = None
    dead_letters: Path = Path("events-dead-letter.jsonl")
    backoff_s: Sequence[float] = (0.5, 1.0, 2.0, 4.0)
    counts: RelayCounts = field(default_factory=RelayCounts)

    def __post_init__(self) -> None:
        name = self.deployment.name("event-relay")
        sqs, events = self.endpoint.client("sqs"), self.endpoint.client("events")
        self.queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
        rule = self.deployment.name("EventsOut")
        events.put_rule(
            Name=rule, EventBusName=self.bus, EventPattern=json.dumps({"source": [EVENT_SOURCE]}), State="ENABLED"
        )
        events.put_targets(
            Rule=rule, EventBusName=self.bus, Targets=[{"Id": "relay", "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"}]
        )
        self._mqtt = _Mqtt(self.mqtt) if self.mqtt else None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self._thread = threading.Thread(target=self._run, name="event-relay", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._mqtt is not None:
            self._mqtt.close()

    def _run(self) -> None:
        sqs = self.endpoint.client("sqs")
        while not self._stop.is_set():
            try:
                for message in received(sqs, self.queue_url, wait_s=1, stop=self._stop):
                    self.deliver(json.loads(message["Body"]))
                    sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            except Exception:  # the relay must outlive any one failure (the queue, a malformed message)
                log.exception("event relay: a delivery round failed; going on")
                self._stop.wait(1.0)

    def deliver(self, event: dict[str, Any]) -> None:
        body = json.dumps(event, separators=(",", ":")).encode()
        for webhook in self.webhooks:
            self._post(webhook, event, body)
        if self._mqtt is not None:
            try:
                self.counts.published += self._mqtt.deliver(event)
            except Exception as exc:  # the broker gone, a refused publish: kept, and the webhooks go on
                self._dead_letter(
                    {"mqtt": f"{self._mqtt.broker.host}:{self._mqtt.broker.port}", "error": str(exc)}, event
                )

    def _post(self, webhook: Webhook, event: dict[str, Any], body: bytes) -> None:
        error = ""
        for wait in [0.0, *self.backoff_s]:
            if wait:
                self.counts.retried += 1
                if self._stop.wait(random.uniform(wait / 2, wait)):  # equal jitter; cut short by stop
                    break
            stamp = int(time.time())  # signed at each try: a retry is not a replay
            headers = {
                "Content-Type": "application/json",
                "X-Facepipe-Event": str(event.get("detail-type", "")),
                "X-Facepipe-Timestamp": str(stamp),
                "X-Facepipe-Signature": signature(webhook.secret, body, stamp),
            }
            try:
                answer = requests.post(webhook.url, data=body, headers=headers, timeout=10, allow_redirects=False)
                if 200 <= answer.status_code < 300:
                    self.counts.delivered += 1
                    return
                error = f"HTTP {answer.status_code}" + (" (a redirect: not followed)" if answer.is_redirect else "")
            except requests.RequestException as exc:
                error = type(exc).__name__
        self._dead_letter({"webhook": webhook.url, "error": error}, event)

    def _dead_letter(self, where: dict[str, str], event: dict[str, Any]) -> None:
        """Append to the dead-letter file, created readable by its owner only (it names people and webhooks),
        rotated past ``DEAD_LETTER_MAX_BYTES`` (``DEAD_LETTER_KEPT`` older files kept)."""
        self.counts.dead_lettered += 1
        path = self.dead_letters
        if path.exists() and path.stat().st_size >= DEAD_LETTER_MAX_BYTES:
            for n in range(DEAD_LETTER_KEPT, 0, -1):
                older = path.with_name(f"{path.name}.{n}")
                if n == DEAD_LETTER_KEPT:
                    older.unlink(missing_ok=True)
                newer = path if n == 1 else path.with_name(f"{path.name}.{n - 1}")
                if newer.exists():
                    newer.rename(older)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.fchmod(fd, 0o600)  # a file made before, wider: narrowed
        with os.fdopen(fd, "a") as out:
            out.write(json.dumps(where | {"event": event}) + "\n")
