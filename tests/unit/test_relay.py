"""The local relay's webhook rules: plain http only on loopback, and a signature a receiver can check for
tampering and for replay (facepipe.local.relay)."""

from __future__ import annotations

import time

import pytest

from facepipe.local.relay import REPLAY_WINDOW_S, Webhook, signature, verify


@pytest.mark.parametrize("url", ["https://hooks.example.org/in", "http://127.0.0.1:8080/x", "http://localhost/x"])
def test_https_anywhere_and_plain_http_only_on_this_machine(url):
    assert Webhook(url, "s").url == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://hooks.example.org/in", "plain http off this machine"),
        ("http://10.0.0.5/in", "plain http off this machine"),
        ("ftp://hooks.example.org/in", "not an http"),
        ("hooks.example.org/in", "not an http"),
    ],
)
def test_a_webhook_that_would_send_names_in_the_clear_is_refused_by_name(url, why):
    with pytest.raises(ValueError, match=why):
        Webhook(url, "s")
    with pytest.raises(ValueError, match="no secret"):
        Webhook("https://hooks.example.org/in", "")


def test_a_receiver_refuses_a_replayed_or_altered_request():
    body, now = b'{"detail-type":"person.seen"}', int(time.time())
    signed = signature("secret", body, now)
    assert verify("secret", body, str(now), signed, now=now + 5)
    assert not verify("secret", body, str(now), signed, now=now + REPLAY_WINDOW_S + 1)  # replayed later
    assert not verify("secret", body + b" ", str(now), signed, now=now)  # altered
    assert not verify("secret", body, str(now + 1), signed, now=now)  # its time changed to pass the window
    assert not verify("other", body, str(now), signed, now=now)
    assert not verify("secret", body, "soon", signed, now=now)
