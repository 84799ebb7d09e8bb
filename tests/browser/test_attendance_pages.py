"""The attendance pages in headless Chromium: a course's session with who was present, late and absent, its
CSV export (downloaded as a teacher does, and read back as a spreadsheet would), and one student's term.

A timetable is imported with the CLI; clips of the sample people arrive at the session's times (their capture
time in the key); the template's schedule is fired with the test's clock. The page is screenshotted
(docs/console/attendance.png; FACEPIPE_SCREENSHOTS=docs/console refreshes it)."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from facepipe.identity.timetable import validate_timetable
from facepipe.local.client import receive_results, upload_clip

DAY = (datetime.now(UTC) - timedelta(days=1)).date()
TIMETABLE = f"""course,rooms,weekdays,start,end,timezone
civics,civics-cam,{["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][DAY.weekday()]},08:30,09:30,America/New_York
"""
ROSTER = "course,student_id\ncivics,obama\ncivics,biden\ncivics,kit_harington\n"


def test_a_session_its_csv_and_a_students_term(stack, page, clip_factory, screenshots, tmp_path):
    (tmp_path / "t.csv").write_text(TIMETABLE)
    (tmp_path / "r.csv").write_text(ROSTER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | stack.env()
    imported = subprocess.run(
        [sys.executable, "-m", "facepipe", "attendance", "import", "--timetable", str(tmp_path / "t.csv"),
         "--roster", str(tmp_path / "r.csv")],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    (course,) = validate_timetable(TIMETABLE, ROSTER).courses
    session = course.session_on(DAY)
    stack.add_device("civics-cam")
    arrivals = [
        (session.starts + timedelta(minutes=1), clip_factory("obama-480p.jpg")),  # on time
        (session.starts + timedelta(minutes=20), clip_factory("obama_and_biden.jpg")),  # biden late
        (session.starts + timedelta(minutes=21), clip_factory("alex_lacamoire1.jpg")),  # not on the roster
    ]
    for seq, (at, clip) in enumerate(arrivals, 1):
        upload = upload_clip(clip, bucket=stack.outputs.bucket, device_id="civics-cam", seq=seq, captured=at)
        assert upload.key in receive_results(stack.queue_url("civics-cam"), {upload.key: upload}, timeout_s=60)
    ((ok, closed),) = stack.schedules.fire(session.ends + timedelta(minutes=15))
    assert ok and [s["session"] for s in closed["closed"]] == [session.id], closed

    page.goto("/attendance")
    page.select_option("select[name=course]", "civics")
    page.fill("input[name=date]", DAY.isoformat())
    page.click("#choose button[type=submit]")
    section = page.locator(f'section.session[data-session="{session.id}"]')
    expect(section.locator(".summary")).to_contain_text("1 present, 1 late, 1 absent, 1 visitor(s)")
    statuses = {
        row.get_attribute("data-student"): row.locator(".status").inner_text()
        for row in section.locator("tbody tr").all()
    }
    assert statuses == {"obama": "present", "biden": "late", "kit_harington": "absent", "alex_lacamoire": "visitor"}
    expect(section.locator('tr[data-student="obama"]')).to_contain_text("08:31:00")  # New York time, not UTC
    page.screenshot(path=screenshots / "attendance.png", full_page=True)

    with page.expect_download() as download:
        page.click("#export")
    text = download.value.path().read_text(encoding="utf-8-sig")  # the BOM a spreadsheet reads as UTF-8
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["student_id"], r["status"]) for r in rows] == [
        ("biden", "late"), ("kit_harington", "absent"), ("obama", "present"), ("alex_lacamoire", "visitor"),
    ]  # fmt: skip
    assert download.value.suggested_filename == f"attendance-civics-{DAY.isoformat()}.csv"

    page.click('tr[data-student="biden"] a')
    expect(page.locator("#term")).to_contain_text("1 session(s) this term: 0 present, 1 late, 0 absent")
