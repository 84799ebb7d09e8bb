"""`facepipe console`: serve the web console for a stack (local by default, or ``--stack NAME``)."""

from __future__ import annotations

import argparse
import ipaddress
import secrets
from typing import Any

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
    p.add_argument("--stack", metavar="NAME", help="a deployed stack (default: the local stack's settings)")
    p.set_defaults(handler=cmd_console)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(settings: Settings, *, host: str, port: int, token: str | None = None, stack: str | None = None) -> None:
    """Serve until interrupted; prints the address to open (with the token when one is needed)."""
    import uvicorn

    from facepipe.console.app import create_app
    from facepipe.ops.operator import Operator, stack_settings

    loopback = is_loopback(host)
    if not loopback:
        token = token or secrets.token_urlsafe(24)
    operator = Operator(stack_settings(settings, stack))
    app = create_app(operator, token=None if loopback else token, loopback=loopback)
    shown = f"[{host}]" if ":" in host else host
    address = f"http://{shown}:{port}/" + ("" if loopback else f"?token={token}")
    print(f"facepipe console: {address}  (Ctrl-C to stop)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def cmd_console(args: argparse.Namespace, settings: Settings) -> int:
    serve(settings, host=args.host, port=args.port, token=args.token, stack=args.stack)
    return 0
