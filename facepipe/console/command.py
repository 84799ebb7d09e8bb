"""`facepipe console`: serve the web console for a stack (local by default, or ``--stack NAME``)."""

from __future__ import annotations

import argparse
import secrets
from pathlib import Path
from typing import Any

from facepipe.core.errors import FacepipeError
from facepipe.core.hosts import is_loopback
from facepipe.core.settings import Settings


def register(sub: Any) -> None:
    p = sub.add_parser(
        "console",
        help="the web console: live view, unknown faces, people, history, plots (127.0.0.1 by default)",
        description="Serves the console for the local stack (the settings `facepipe local --env-file F` wrote, "
        "sourced) or a deployed stack (--stack NAME, with the operator's AWS credentials). On loopback anyone on "
        "this machine may use it; bound to another address it requires a token (printed in its address).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument("--port", type=int, default=8080, help="port (default: %(default)s)")
    p.add_argument("--token", help="the token required when not on loopback (default: a new random one)")
    p.add_argument("--tls-cert", type=Path, metavar="PEM", help="off loopback: the certificate to serve HTTPS with")
    p.add_argument("--tls-key", type=Path, metavar="PEM", help="off loopback: its private key")
    p.add_argument(
        "--plain-http",
        action="store_true",
        help="off loopback without TLS, because a TLS proxy in front of it terminates HTTPS (say so on purpose)",
    )
    p.add_argument("--stack", metavar="NAME", help="a deployed stack (default: the local stack's settings)")
    p.set_defaults(handler=cmd_console)


def tls_files(host: str, cert: Path | None, key: Path | None, *, plain_http: bool) -> tuple[Path, Path] | None:
    """The certificate and key to serve with, or None (loopback, or a TLS proxy in front said so); a clear error
    when bound elsewhere without them: the token and people's faces would cross the network in the clear."""
    if (cert is None) != (key is None):
        raise FacepipeError("give both --tls-cert and --tls-key", code="bad_arguments")
    if cert is not None and key is not None:
        for path in (cert, key):
            if not path.is_file():
                raise FacepipeError(f"{path}: no such file", code="bad_arguments")
        return cert, key
    if is_loopback(host) or plain_http:
        return None
    raise FacepipeError(
        f"bound to {host}, the console would send its token and people's faces over the network in the clear: give "
        "--tls-cert and --tls-key (a certificate for that address), or serve it behind a TLS proxy and say "
        "--plain-http",
        code="needs_tls",
    )


def serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    token: str | None = None,
    stack: str | None = None,
    tls: tuple[Path, Path] | None = None,
) -> None:
    """Serve until interrupted; prints the address to open (with the token when one is needed)."""
    import uvicorn

    from facepipe.console.app import create_app
    from facepipe.ops.operator import Operator, stack_settings

    loopback = is_loopback(host)
    if not loopback:
        token = token or secrets.token_urlsafe(24)
    operator = Operator(stack_settings(settings, stack))
    app = create_app(operator, token=None if loopback else token, loopback=loopback, secure_cookie=tls is not None)
    shown = f"[{host}]" if ":" in host else host
    address = f"{'https' if tls else 'http'}://{shown}:{port}/" + ("" if loopback else f"?token={token}")
    print(f"facepipe console: {address}  (Ctrl-C to stop)", flush=True)
    cert, key = (str(tls[0]), str(tls[1])) if tls else (None, None)
    uvicorn.run(app, host=host, port=port, log_level="warning", ssl_certfile=cert, ssl_keyfile=key)


def cmd_console(args: argparse.Namespace, settings: Settings) -> int:
    tls = tls_files(args.host, args.tls_cert, args.tls_key, plain_http=args.plain_http)
    serve(settings, host=args.host, port=args.port, token=args.token, stack=args.stack, tls=tls)
    return 0
