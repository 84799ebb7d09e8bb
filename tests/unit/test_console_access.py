"""Who may use the console: loopback only by default, a token when bound elsewhere, no cross-site posts.

The app is served by uvicorn on a real socket and asked with real HTTP requests; the guard answers before any
page reads the stack, so the pages asked for here are the static stylesheet and refused actions.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests
import uvicorn

from facepipe.console.app import MAX_UPLOAD_BYTES, create_app
from facepipe.core.hosts import is_loopback
from facepipe.core.settings import explicit_settings
from facepipe.local.stack import free_port
from facepipe.ops.operator import Operator, OperatorError


@pytest.fixture()
def operator(monkeypatch) -> Operator:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    names = {"students_table": "s", "devices_table": "d", "sightings_table": "x", "unknowns_table": "u"}
    return Operator(explicit_settings(bucket_name="b", **names))


@contextmanager
def serving(app) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_bound_elsewhere_every_request_needs_the_token(operator):
    with serving(create_app(operator, token="s3cret", loopback=False)) as url:
        css = f"{url}/static/console.css"
        assert requests.get(css, timeout=10).status_code == 401
        assert requests.get(css + "?token=wrong", timeout=10).status_code == 401
        assert requests.get(css + "?token=s%C3%A9cret", timeout=10).status_code == 401  # non-ASCII: refused, no 500
        assert requests.get(css, headers={"Authorization": "Bearer s3cret"}, timeout=10).status_code == 200
        # The address the command prints: the token once, then a cookie (and the token out of the address).
        session = requests.Session()
        first = session.get(css + "?token=s3cret", timeout=10, allow_redirects=False)
        assert first.status_code == 303 and first.headers["location"] == css
        assert session.get(css, timeout=10).status_code == 200


def test_on_loopback_a_request_naming_another_host_is_refused(operator):
    with serving(create_app(operator)) as url:
        assert requests.get(f"{url}/static/console.css", timeout=10).status_code == 200
        rebound = requests.get(f"{url}/static/console.css", headers={"Host": "attacker.example"}, timeout=10)
        assert rebound.status_code == 400 and "Invalid host header" in rebound.text  # Starlette's TrustedHost
        for loopback in ("localhost", "[::1]"):
            named = requests.get(f"{url}/static/console.css", headers={"Host": f"{loopback}:80"}, timeout=10)
            assert named.status_code == 200, loopback


def test_a_post_from_another_site_is_refused_before_it_acts(operator):
    with serving(create_app(operator)) as url:
        forged = requests.post(
            f"{url}/people/obama/erase",
            data={"confirm": "obama"},
            headers={"Origin": "http://attacker.example"},
            timeout=10,
        )
        assert forged.status_code == 403 and "cross-site request" in forged.text


def test_loopback_is_told_apart():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10") and not is_loopback("pi.local")


def test_without_a_stack_the_console_says_what_is_missing():
    with pytest.raises(OperatorError, match="SIGHTINGS_TABLE, UNKNOWNS_TABLE not set"):
        Operator(explicit_settings(bucket_name="b", students_table="s", devices_table="d"))


def test_no_page_elsewhere_may_frame_the_console(operator):
    """Clickjacking: a page of another site must not frame the loopback console and trick a click on Remove or
    "not X?". Every response says so, refusals included."""
    with serving(create_app(operator)) as url:
        responses = [
            requests.get(f"{url}/static/console.css", timeout=10),  # served
            requests.get(f"{url}/no-such-page", timeout=10),  # not found
            requests.post(f"{url}/people/x/remove", headers={"Origin": "http://evil.example"}, timeout=10),  # refused
        ]
    with serving(create_app(operator, token="s3cret", loopback=False)) as url:
        responses.append(requests.get(f"{url}/static/console.css", timeout=10))  # no token
    assert [r.status_code for r in responses] == [200, 404, 403, 401]
    for response in responses:
        assert response.headers["content-security-policy"] == "frame-ancestors 'none'", response.url
        assert response.headers["x-frame-options"] == "DENY", response.url


def test_every_request_body_has_one_limit_whatever_it_says_its_size_is(operator):
    """Every form is parsed within one limit (the 30 MB of /people's uploads), also when the body says nothing
    of its size (chunked): refused with 413 before anything acts. No stack is touched: nothing gets that far."""
    field = b"clip=" + b"x" * (512 * 1024)  # each field within Starlette's own 1 MB a field
    too_much = b"&".join([field] * (MAX_UPLOAD_BYTES // len(field) + 2))

    def chunks():
        for start in range(0, len(too_much), 1 << 20):
            yield too_much[start : start + (1 << 20)]

    with serving(create_app(operator)) as url:
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        declared = requests.post(f"{url}/reject", data=too_much, headers=form, timeout=60)
        chunked = requests.post(f"{url}/reject", data=chunks(), headers=form, timeout=60)
    for response in (declared, chunked):
        assert response.status_code == 413 and "request too large (over 30 MB)" in response.text
        assert response.headers["x-frame-options"] == "DENY"


def test_a_100_mb_post_to_every_form_is_refused_before_it_is_read(operator):
    """Each form route of the app, sent headers declaring 100 MB and then only a few bytes: 413 at once (the
    client never sends the rest, so an answer at all shows nothing waited for the body). No stack is touched."""
    import http.client
    from urllib.parse import urlsplit

    app = create_app(operator)
    forms = sorted({r.path for r in app.routes if "POST" in (getattr(r, "methods", None) or set())})
    assert len(forms) >= 5 and "/people" in forms, forms
    # /people refuses from the same header on its own page, which needs a stack to draw: the browser test
    # (test_console.py::test_bad_input_gets_a_clear_message_and_changes_nothing) sends it 31 MB.
    forms.remove("/people")
    with serving(app) as url:
        address = urlsplit(url)
        for path in forms:
            connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
            connection.putrequest("POST", path.replace("{person_id}", "obama").replace("{face_id}", "f1"))
            connection.putheader("Content-Type", "application/x-www-form-urlencoded")
            connection.putheader("Content-Length", str(100 * 1024 * 1024))
            connection.endheaders(b"clip=x&person=y")
            response = connection.getresponse()
            body = response.read().decode()
            connection.close()
            assert response.status == 413 and "request too large (over 30 MB)" in body, (path, response.status, body)


def test_every_open_live_page_shares_one_poll_and_their_number_is_capped(operator, monkeypatch):
    """Each live page used to read the stack every second on its own. One poll now feeds every open page (three
    pages for ~2.5 s: about three reads, not nine), and a page past the cap gets 503. The stack is moto's
    in-process mock with the devices table (no device registered: the cards are empty, the reads are real)."""
    import boto3
    from moto import mock_aws

    import facepipe.console.app as console_app
    import facepipe.console.live as console_live

    monkeypatch.setattr(console_app, "MAX_LIVE_PAGES", 3)
    monkeypatch.setattr(console_live, "MAX_LIVE_PAGES", 3)
    with mock_aws():
        boto3.client("dynamodb", region_name="us-east-1").create_table(
            TableName="d",
            KeySchema=[{"AttributeName": "device_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "device_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        app = create_app(operator)
        with serving(app) as url:
            pages = [requests.get(f"{url}/events", stream=True, timeout=10) for _ in range(3)]
            assert [p.status_code for p in pages] == [200, 200, 200]
            started = time.monotonic()
            time.sleep(2.5)
            one_more = requests.get(f"{url}/events", stream=True, timeout=10)
            polls, listeners = app.state.live_feed.polls, app.state.live_feed.listeners
            for page in pages:
                page.close()
        elapsed = time.monotonic() - started
    assert one_more.status_code == 503 and "live pages are open already" in one_more.text
    assert listeners == 3
    assert polls <= elapsed + 2, f"{polls} reads of the stack in {elapsed:.1f} s for three pages"


def test_bound_elsewhere_the_console_needs_tls_or_says_how(tmp_path):
    """Off loopback the token and people's faces would cross the network in the clear: refused with what to do,
    unless a certificate is given or a TLS proxy in front is declared (--plain-http)."""
    from facepipe.console.command import tls_files
    from facepipe.core.errors import FacepipeError

    assert tls_files("127.0.0.1", None, None, plain_http=False) is None
    with pytest.raises(FacepipeError, match=r"bound to 0.0.0.0, .* give --tls-cert and --tls-key .* --plain-http"):
        tls_files("0.0.0.0", None, None, plain_http=False)
    assert tls_files("0.0.0.0", None, None, plain_http=True) is None
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    with pytest.raises(FacepipeError, match="c.pem: no such file"):
        tls_files("0.0.0.0", cert, key, plain_http=False)
    cert.write_text("x"), key.write_text("y")
    assert tls_files("0.0.0.0", cert, key, plain_http=False) == (cert, key)
    with pytest.raises(FacepipeError, match="give both"):
        tls_files("0.0.0.0", cert, None, plain_http=False)
