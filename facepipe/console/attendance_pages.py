"""The console's attendance pages: a course's sessions on a day (``/attendance``), one student over the term
(``/attendance/student/<id>``), each with its CSV export (facepipe.ops.attendance builds the rows)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from facepipe.core.contracts import PERSON_ID_PATTERN
from facepipe.core.errors import FacepipeError
from facepipe.ops.attendance import Attendance, to_csv

Page = Callable[..., Response]
_DAY = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")


def _csv(text: str, filename: str) -> Response:
    # A spreadsheet opens it by its type and name; the BOM tells Excel it is UTF-8 (names with accents).
    return Response(
        "\ufeff" + text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def attendance_routes(settings: Any, page: Page) -> list[Route]:
    def attendance() -> Attendance:
        return Attendance(settings)

    def chosen(request: Request) -> tuple[str, str, str | None]:
        course = request.query_params.get("course", "")
        day = request.query_params.get("date", "") or datetime.now(UTC).date().isoformat()
        if not _DAY.fullmatch(day):
            return course, day, f"date {day!r} is not a day (YYYY-MM-DD) or a month (YYYY-MM)"
        return course, day, None

    async def course_page(request: Request) -> Response:
        course, day, error = chosen(request)
        sessions: list[dict[str, Any]] = []
        courses = []
        try:
            courses = await run_in_threadpool(lambda: attendance().courses())
            if course and not error:
                sessions = await run_in_threadpool(lambda: attendance().sessions(course, day))
        except FacepipeError as exc:
            error = exc.message
        context = {"courses": courses, "course": course, "day": day, "sessions": sessions, "active": "attendance"}
        return page(request, "attendance.html", context | {"error": error}, status=400 if error else 200)

    async def course_csv(request: Request) -> Response:
        course, day, error = chosen(request)
        if error or not course:
            return Response(error or "name a course (?course=...)", status_code=400, media_type="text/plain")
        try:
            sessions = await run_in_threadpool(lambda: attendance().sessions(course, day))
        except FacepipeError as exc:
            return Response(exc.message, status_code=400, media_type="text/plain")
        return _csv(to_csv([row for s in sessions for row in s["rows"]]), f"attendance-{course}-{day}.csv")

    async def student_page(request: Request) -> Response:
        person_id = request.path_params["person_id"]
        if not re.fullmatch(PERSON_ID_PATTERN, person_id):
            return Response(f"{person_id!r} is not a person id", status_code=400, media_type="text/plain")
        rows = await run_in_threadpool(lambda: attendance().student(person_id))
        counts = {s: sum(1 for r in rows if r.status == s) for s in ("present", "late", "absent", "visitor")}
        context = {"person_id": person_id, "rows": rows, "counts": counts, "active": "attendance"}
        return page(request, "attendance_student.html", context)

    async def student_csv(request: Request) -> Response:
        person_id = request.path_params["person_id"]
        if not re.fullmatch(PERSON_ID_PATTERN, person_id):
            return Response(f"{person_id!r} is not a person id", status_code=400, media_type="text/plain")
        rows = await run_in_threadpool(lambda: attendance().student(person_id))
        return _csv(to_csv(rows), f"attendance-{person_id}.csv")

    return [
        Route("/attendance", course_page),
        Route("/attendance.csv", course_csv),
        Route("/attendance/student/{person_id}", student_page),
        Route("/attendance/student/{person_id}.csv", student_csv),
    ]
