"""The console's web app: server-rendered pages (Starlette + Jinja2) and one server-sent-events channel.

Pages: ``/`` live view (a card per device, updated over ``/events``), ``/unknowns`` (the inbox: label or
dismiss), ``/people`` (add, remove, erase), ``/history`` (who was seen, where, when), ``/plots``. Every action
is a plain form POST that redirects back with a message (or re-renders with the error, status 400, having
changed nothing), so every page works without script; the script only swaps in live device cards.

Access: bound to loopback, anyone on this machine may use it (as with `facepipe local`), and requests must
name a loopback host (no DNS rebinding). Bound elsewhere, every request needs the token (``?token=`` once,
then a cookie; or ``Authorization: Bearer``). Every POST must come from the console's own pages (its
``Origin``), so another site open in the same browser cannot act through it.

Longer than ~250 lines: the routes of five pages and their guard; what the pages show is built in
:mod:`.views`, the plots in :mod:`.plots`.
"""

from __future__ import annotations

import hmac
import json
import logging
import mimetypes
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from facepipe.console import plots, views
from facepipe.console.attendance_pages import attendance_routes
from facepipe.console.live import MAX_LIVE_PAGES, LiveFeed, Snapshot
from facepipe.core.errors import FacepipeError
from facepipe.ops.operator import MAX_PHOTO_BYTES, Operator, OperatorError
from facepipe.vision.quality import REFERENCE_SHARPNESS

HERE = Path(__file__).parent
# The largest request the console reads (a few portraits); anything larger is refused before it is read.
MAX_UPLOAD_BYTES = 3 * MAX_PHOTO_BYTES
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
TOKEN_COOKIE = "facepipe_console"

Handler = Callable[[Request], Awaitable[Response]]


log = logging.getLogger("facepipe.console")


def _finish_erase(operator: Operator, job_id: str) -> None:
    """The rest of an erase job, in the background: its late pass after the pipeline has settled. A failure is
    logged; the job stays under way, and its Continue (or `facepipe people erase`) resumes it."""
    try:
        operator.continue_erase(job_id, wait=True)
    except Exception:
        log.exception("erase job %s: its late pass failed; Continue resumes it", job_id)


def create_app(
    operator: Operator, *, token: str | None = None, loopback: bool = True, secure_cookie: bool = False
) -> Starlette:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals["data_uri"] = views.data_uri
    templates.env.filters["urlquote"] = lambda value: quote(str(value), safe="")

    def page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
        context = {
            "message": request.query_params.get("message"),
            "error": None,
            "retention_days": operator.settings.face_crop_retention_days,
            **context,
        }
        return templates.TemplateResponse(request, name, context, status_code=status)

    def back(path: str, message: str) -> RedirectResponse:
        return RedirectResponse(f"{path}?message={quote(message)}", status_code=303)

    async def act(request: Request, path: str, render: Handler, action: Callable[[], str]) -> Response:
        """Run an operator action; on a refusal, show the page again with the reason (status 400)."""
        try:
            message = await run_in_threadpool(action)
        except FacepipeError as exc:
            response = await render(request)
            return _with_error(response, exc.message, templates, request)
        return back(path, message)

    # --- live view ----------------------------------------------------------------------------------
    async def live(request: Request) -> Response:
        cards = await run_in_threadpool(views.device_cards, operator)
        return page(request, "live.html", {"cards": cards, "active": "live"})

    async def render_cards() -> Snapshot:
        cards = await run_in_threadpool(views.device_cards, operator)
        card = templates.env.get_template("_device.html")
        return {c.device_id: (c.dom_id, card.render(card=c, data_uri=views.data_uri)) for c in cards}

    feed = LiveFeed(render_cards)

    async def events(request: Request) -> Response:
        if feed.listeners >= MAX_LIVE_PAGES:
            return PlainTextResponse(f"{MAX_LIVE_PAGES} live pages are open already: close one", 503)

        async def stream() -> AsyncIterator[dict[str, str]]:
            sent: dict[str, str] = {}
            async with feed.subscribe() as snapshots:
                async for snapshot in snapshots:
                    for device_id, (dom_id, html) in snapshot.items():
                        if sent.get(device_id) != html:
                            sent[device_id] = html
                            yield {"event": "card", "data": json.dumps({"id": dom_id, "html": html})}

        return EventSourceResponse(stream(), ping=15)

    # --- unknown faces ------------------------------------------------------------------------------
    async def unknowns_page(request: Request) -> Response:
        clusters = await run_in_threadpool(operator.inbox)
        # A crop softer than a good reference is flagged before it joins anyone's gallery photos.
        context = {"clusters": clusters, "active": "unknowns", "soft_below": REFERENCE_SHARPNESS}
        return page(request, "unknowns.html", context)

    async def crop(request: Request) -> Response:
        key = request.query_params.get("key", "")
        try:
            data = await run_in_threadpool(operator.photo, key)
        except FacepipeError as exc:
            return PlainTextResponse(exc.message, status_code=404)
        kind = mimetypes.guess_type(key)[0] or "image/jpeg"  # photos are .jpg/.jpeg/.png, crops .jpg
        return Response(data, media_type=kind, headers={"Cache-Control": "private, max-age=60"})

    async def label(request: Request) -> Response:
        unknown_id = request.path_params["unknown_id"]
        form = await request.form()
        person_id, name = str(form.get("person_id", "")).strip(), str(form.get("name", "")).strip()

        def run() -> str:
            accept = form.get("accept_flagged") == "on"
            report = operator.label(unknown_id, person_id, name or None, accept_flagged=accept)
            poor = f"; {len(report.poor_references)} of them poor references (matched more closely)"
            held = f"; {len(report.held)} held back as unlike {person_id}'s photos: " + "; ".join(
                why for _, why in report.held
            )
            return (
                f"{unknown_id} is now {person_id}: {report.photos_added} crop(s) added to the gallery"
                + (poor if report.poor_references else "")
                + (held if report.held and not accept else "")
            )

        return await act(request, "/unknowns", unknowns_page, run)

    async def dismiss(request: Request) -> Response:
        unknown_id = request.path_params["unknown_id"]
        return await act(
            request,
            "/unknowns",
            unknowns_page,
            lambda: f"{operator.dismiss(unknown_id).id} dismissed: its crops are deleted",
        )

    # --- people -------------------------------------------------------------------------------------
    async def people_page(request: Request) -> Response:
        people = await run_in_threadpool(operator.people)
        # Erasures under way, as they stand: a page view changes nothing ("Continue" advances one).
        jobs = await run_in_threadpool(operator.erase_jobs)
        return page(request, "people.html", {"people": people, "jobs": jobs, "active": "people"})

    async def add_person(request: Request) -> Response:
        too_big = _too_big(request)
        if too_big:
            response = await people_page(request)
            return _with_error(response, too_big, templates, request, status=413)
        form = await request.form(max_files=5, max_fields=10)
        person_id, name = str(form.get("person_id", "")).strip(), str(form.get("name", ""))
        photos = [
            (item.filename or "photo.jpg", await item.read())
            for item in form.getlist("photos")
            if isinstance(item, UploadFile) and item.filename
        ]

        def run() -> str:
            person = operator.add_person(person_id, name, photos, accept_flagged=form.get("accept_flagged") == "on")
            return f"{person.id} enrolled with {person.encodings} photo(s)"

        return await act(request, "/people", people_page, run)

    async def remove_person(request: Request) -> Response:
        person_id = request.path_params["person_id"]

        def run() -> str:
            operator.remove_person(person_id)
            return f"{person_id} removed from the gallery (record, photos and history kept; erase removes them)"

        return await act(request, "/people", people_page, run)

    async def erase_person(request: Request) -> Response:
        form = await request.form(max_fields=5)
        person_id = request.path_params.get("person_id") or str(form.get("person_id", "")).strip()

        def run() -> str:
            if str(form.get("confirm", "")).strip() != person_id:
                raise OperatorError(f"to erase {person_id}, type their id in the box (nothing was erased)")
            sweep = form.get("sweep") == "on"
            # The request returns after the first pass; the late pass (after GalleryRefreshSeconds and the settle
            # time, ~2.5 minutes on a deployed stack: facepipe.ops.settle) finishes in the background, holding the
            # job's lease; a sweep goes on, shown under "Erasures under way" (Continue collects it).
            job = operator.erase(person_id, sweep=sweep, wait=False)
            if job.status == "completed":
                return f"{person_id} erased: {job.summary()}"
            if sweep:
                return (
                    f"{person_id} erased from the gallery and every clip and sighting that named them; "
                    "the sweep of every stored clip goes on (Erasures under way)"
                )
            threading.Thread(target=_finish_erase, args=(operator, job.id), name=f"erase-{job.id}", daemon=True).start()
            return (
                f"{person_id} erased from the gallery and every clip, sighting and record that named them; a last "
                "look once the pipeline has settled finishes the job by itself (Erasures under way)"
            )

        return await act(request, "/people", people_page, run)

    async def continue_erase(request: Request) -> Response:
        job_id = request.path_params["job_id"]

        def run() -> str:
            job = operator.continue_erase(job_id)
            if job.status == "completed":
                return f"{job.person_id} erased: {job.summary()}"
            return f"{job.person_id}: the erase goes on ({job.sweep_scanned} clip(s) swept so far)"

        return await act(request, "/people", people_page, run)

    # --- history ------------------------------------------------------------------------------------
    async def history_page(request: Request) -> Response:
        q = request.query_params
        person, device = q.get("person", ""), q.get("device", "")
        error = None
        try:
            start, end = _moment(q.get("from", ""), "from"), _moment(q.get("to", ""), "to")
        except OperatorError as exc:
            start = end = None
            error = exc.message
        rows = await run_in_threadpool(
            lambda: views.history(operator, person=person, device=device, start=start, end=end)
        )
        devices = await run_in_threadpool(views.registered_devices, operator)
        context = {
            "rows": rows,
            "devices": devices,
            "person": person,
            "device": device,
            "start": q.get("from", ""),
            "end": q.get("to", ""),
            "active": "history",
            "error": error,
        }
        return page(request, "history.html", context, status=400 if error else 200)

    async def reject(request: Request) -> Response:
        form = await request.form()
        clip, person_id = str(form.get("clip", "")), str(form.get("person_id", ""))

        def run() -> str:
            faces = operator.reject(clip, person_id)
            return f"noted: the face in {clip} is not {person_id} ({faces} face(s) kept as a negative example)"

        return await act(request, "/history", history_page, run)

    # --- plots --------------------------------------------------------------------------------------
    async def plots_page(request: Request) -> Response:
        now = datetime.now(UTC)
        series = await run_in_threadpool(views.latency_series, operator, now)
        context = {
            "latency": plots.latency_svg(series, now - timedelta(hours=1), now),
            "per_minute": plots.per_minute_svg(views.per_minute(series, now)),
            "series": series,
            "active": "plots",
        }
        return page(request, "plots.html", context)

    routes = [
        Route("/", live),
        Route("/events", events),
        Route("/unknowns", unknowns_page),
        Route("/unknowns/{unknown_id}/label", label, methods=["POST"]),
        Route("/unknowns/{unknown_id}/dismiss", dismiss, methods=["POST"]),
        Route("/crop", crop),
        Route("/people", people_page),
        Route("/people", add_person, methods=["POST"]),
        Route("/people/{person_id}/remove", remove_person, methods=["POST"]),
        Route("/people/{person_id}/erase", erase_person, methods=["POST"]),
        Route("/erase", erase_person, methods=["POST"]),
        Route("/erase-jobs/{job_id}/continue", continue_erase, methods=["POST"]),
        Route("/history", history_page),
        Route("/reject", reject, methods=["POST"]),
        Route("/plots", plots_page),
        *attendance_routes(operator.settings, page),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(_Guard, token=token, secure_cookie=secure_cookie)
    if loopback:
        # Added last, so it runs first: a page of another site that rebinds its name to 127.0.0.1 is refused.
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=sorted(LOOPBACK_HOSTS))
    app.state.live_feed = feed  # the one poll every live page shares (tests count its reads)
    return app


def _too_big(request: Request) -> str | None:
    length = request.headers.get("content-length")
    if length is None:
        return "uploads must say their size (Content-Length); nothing was added"
    if not length.isdigit() or int(length) > MAX_UPLOAD_BYTES:
        return f"upload too large ({length} bytes; at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB): nothing was added"
    return None


def _moment(value: str, what: str) -> datetime | None:
    """A time from the history form (the browser's datetime-local, taken as UTC), or None when empty."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise OperatorError(f"{what}: {value!r} is not a date and time (YYYY-MM-DDTHH:MM)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _with_error(
    response: Response, error: str, templates: Jinja2Templates, request: Request, status: int = 400
) -> Response:
    """The page ``response`` rendered again with ``error`` shown."""
    template = getattr(response, "template", None)
    context = dict(getattr(response, "context", {}) or {})
    if template is None:
        return PlainTextResponse(error, status_code=status)
    context["error"] = error
    context.pop("request", None)
    return templates.TemplateResponse(request, template.name, context, status_code=status)


def _too_large() -> PlainTextResponse:
    return PlainTextResponse(
        f"request too large (over {MAX_UPLOAD_BYTES // (1024 * 1024)} MB): nothing was changed", 413
    )


class _BodyTooLarge(Exception):
    """A request's body went past the console's one limit (raised while it is read)."""


_FRAMING_HEADERS = [(b"content-security-policy", b"frame-ancestors 'none'"), (b"x-frame-options", b"DENY")]


class _Guard:
    """A token when bound elsewhere than loopback; POSTs only from the console's own pages; never framed."""

    def __init__(self, app: Any, token: str | None, secure_cookie: bool = False) -> None:
        self.app, self.token, self.secure_cookie = app, token, secure_cookie

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        respond, read = send, receive
        started, received = False, 0

        async def framed_nowhere(message: dict[str, Any]) -> None:
            # No page elsewhere may frame the console and trick a click on Remove or "not X?" (clickjacking):
            # CSP's frame-ancestors for today's browsers, X-Frame-Options for older ones. On every response.
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = dict(message)
                message["headers"] = [*message.get("headers", []), *_FRAMING_HEADERS]
            await respond(message)

        async def bounded(*_: Any) -> dict[str, Any]:
            # One limit on every request's body, whatever it says its size is (or does not say): no form is
            # parsed past it. /people says more (its uploads are checked against Content-Length first).
            nonlocal received
            message: dict[str, Any] = await read()
            received += len(message.get("body", b""))
            if received > MAX_UPLOAD_BYTES:
                raise _BodyTooLarge
            return message

        send, receive = framed_nowhere, bounded
        request = Request(scope)
        declared = request.headers.get("content-length", "")
        # Refused from its header, nothing read; /people says so on its own page (its uploads are checked there).
        if declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES and request.url.path != "/people":
            await _too_large()(scope, receive, send)
            return
        if self.token is not None:
            given = (
                request.query_params.get("token")
                or request.cookies.get(TOKEN_COOKIE)
                or request.headers.get("authorization", "").removeprefix("Bearer ")
            )
            # Compared as bytes: a given token with non-ASCII characters is a wrong token (401), never a 500.
            if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
                await PlainTextResponse("a token is required (open the address `facepipe console` printed)", 401)(
                    scope, receive, send
                )
                return
            if request.query_params.get("token"):
                response = RedirectResponse(request.url.remove_query_params("token"), status_code=303)
                response.set_cookie(
                    TOKEN_COOKIE, self.token, httponly=True, samesite="strict", secure=self.secure_cookie
                )
                await response(scope, receive, send)
                return
        if request.method == "POST":
            origin = request.headers.get("origin")
            if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
                await PlainTextResponse(f"cross-site request from {origin} refused", 403)(scope, receive, send)
                return
        try:
            await self.app(scope, receive, send)
        except _BodyTooLarge:
            if not started:
                await _too_large()(scope, receive, send)
