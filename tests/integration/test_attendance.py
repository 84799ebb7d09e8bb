"""A school day through the local stack: a timetable of two courses in two rooms, real people's clips
(../shared/videos: the four enrolled from their portraits, a stranger) arriving at the session times (each
clip's capture time in its key, as a camera sends it), the sessions closed by the template's schedule fired
with the test's clock (never slept), the report as a teacher reads it and as a CSV a spreadsheet opens, and
erase reaching every record of a student.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from facepipe.bench.devset import cut_clips
from facepipe.identity.enroll import enroll
from facepipe.identity.records import StudentRecord
from facepipe.identity.timetable import validate_timetable
from facepipe.local.client import receive_results, upload_clip
from facepipe.local.stack import LocalStack, local_stack
from tests.integration.conftest import talking_to

NAMES = {
    "markey": "Ed Markey",
    "swalwell": "Eric Swalwell",
    "menendez": "Bob Menendez",
    "ocasio_cortez": "Alexandria Ocasio-Cortez",
}
# Yesterday (within the capture-time window the cloud accepts), in the courses' own zone.
DAY = (datetime.now(UTC) - timedelta(days=1)).date()
WEEKDAY = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][DAY.weekday()]
TIMETABLE = f"""course,rooms,weekdays,start,end,timezone,grace_minutes
bio101,lab-cam,{WEEKDAY},09:00,10:00,Europe/London,10
chem201,hall-cam,{WEEKDAY},11:00,12:00,Europe/London,10
"""
ROSTER = """course,student_id
bio101,markey
bio101,swalwell
bio101,menendez
chem201,ocasio_cortez
chem201,menendez
"""


@pytest.fixture(scope="module")
def day(videos: Path, settings, tmp_path_factory: pytest.TempPathFactory):
    """The stack, with the four enrolled, the timetable imported, and the day's clips answered."""
    gallery, report = enroll(videos / "people", settings)
    assert report.errors == []
    out = tmp_path_factory.mktemp("attendance-clips")
    clips = {
        who: cut_clips(videos / "clips" / f"{source}.mp4", out, 2)
        for who, source in [
            ("markey", "markey"),
            ("swalwell", "swalwell"),
            ("menendez", "menendez"),
            ("ocasio_cortez", "ocasio_cortez_a"),
            ("stranger", "stranger_b"),
        ]
    }
    # Warm functions re-read the gallery every second, so erase waits 1 s for them rather than the default 30.
    with local_stack(workers=1, parameters={"GalleryRefreshSeconds": "1"}) as stack, talking_to(stack):
        stack.load(gallery=gallery, students=[StudentRecord(id=i, name=n) for i, n in NAMES.items()])
        courses = {c.id: c for c in validate_timetable(TIMETABLE, ROSTER).courses}
        bio, chem = courses["bio101"].session_on(DAY), courses["chem201"].session_on(DAY)
        arrivals = [
            ("lab-cam", bio.starts + timedelta(minutes=2), clips["markey"][0]),  # on time
            ("lab-cam", bio.starts + timedelta(minutes=2, seconds=1), clips["markey"][1]),
            ("lab-cam", bio.starts + timedelta(minutes=25), clips["swalwell"][0]),  # past the grace: late
            ("lab-cam", bio.starts + timedelta(minutes=30), clips["ocasio_cortez"][0]),  # not on bio's roster
            ("lab-cam", bio.starts + timedelta(minutes=40), clips["stranger"][0]),  # nobody enrolled
            ("hall-cam", chem.starts - timedelta(minutes=3), clips["menendez"][0]),  # before chem starts
            ("hall-cam", chem.starts + timedelta(minutes=5), clips["ocasio_cortez"][1]),
            ("hall-cam", chem.starts + timedelta(minutes=50), clips["menendez"][1]),  # late
        ]
        for device in ("lab-cam", "hall-cam"):
            stack.add_device(device)
        for seq, (device, at, clip) in enumerate(arrivals, 1):
            upload = upload_clip(clip, bucket=stack.outputs.bucket, device_id=device, seq=seq, captured=at)
            got = receive_results(stack.queue_url(device), {upload.key: upload}, timeout_s=60)
            assert got[upload.key][0]["status"] == "ok", got[upload.key][0]
        imported = import_timetable(stack, tmp_path_factory.mktemp("timetable"), TIMETABLE, ROSTER)
        # The scheduler fires during bio (nothing ended), just after chem ends (bio closes; chem waits the ten
        # minutes clips on their way get), after those ten minutes (chem closes), and once more (nothing left).
        moments = [bio.starts + timedelta(minutes=30), chem.ends + timedelta(minutes=5)]
        moments += [chem.ends + timedelta(minutes=11), chem.ends + timedelta(minutes=16)]
        firings = [stack.schedules.fire(moment) for moment in moments]
        yield SimpleNamespace(stack=stack, bio=bio, chem=chem, imported=imported, firings=firings)


def import_timetable(stack: LocalStack, folder: Path, timetable: str, roster: str) -> subprocess.CompletedProcess[str]:
    """`facepipe attendance import` of a timetable and roster written to ``folder``, as a school's office runs it."""
    (folder / "timetable.csv").write_text(timetable)
    (folder / "roster.csv").write_text(roster)
    files = ["--timetable", str(folder / "timetable.csv"), "--roster", str(folder / "roster.csv")]
    return facepipe(stack, "attendance", "import", *files)


def facepipe(stack: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | stack.env()
    return subprocess.run(
        [sys.executable, "-m", "facepipe", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_a_school_day_gives_presence_lateness_and_absence(day):
    stack, bio, chem = day.stack, day.bio, day.chem
    assert day.imported.returncode == 0, day.imported.stderr
    assert "Imported 2 course(s) with 5 roster place(s)" in day.imported.stdout
    results = [[(ok, r) for ok, r in firing] for firing in day.firings]  # one schedule: AttendanceFunction's
    assert all(ok for firing in results for ok, _ in firing), results
    closed = [sorted(s["session"] for _, r in firing for s in r["closed"]) for firing in results]
    assert closed == [[], [bio.id], [chem.id], []]

    report = facepipe(stack, "attendance", "report", "--course", "bio101", "--date", DAY.isoformat())
    assert report.returncode == 0, report.stderr
    assert "1 present, 1 late, 1 absent, 1 visitor(s), 1 unknown face(s)" in report.stdout

    exported = facepipe(stack, "attendance", "report", "--course", "bio101", "--date", DAY.isoformat(), "--csv")
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    by_id = {r["student_id"]: r for r in rows}
    assert [r["student_id"] for r in rows] == ["markey", "menendez", "swalwell", "ocasio_cortez"]
    assert by_id["markey"]["status"] == "present" and by_id["markey"]["name"] == "Ed Markey"
    assert by_id["markey"]["first_seen"] == "09:02:00" and by_id["markey"]["last_seen"] == "09:02:01"
    assert by_id["swalwell"]["status"] == "late" and by_id["swalwell"]["first_seen"] == "09:25:00"
    assert by_id["menendez"]["status"] == "absent" and by_id["menendez"]["first_seen"] == ""
    assert by_id["ocasio_cortez"]["status"] == "visitor"
    assert all(r["date"] == DAY.isoformat() and r["start"] == "09:00" for r in rows)

    chem_rows = facepipe(stack, "attendance", "report", "--course", "chem201", "--date", DAY.isoformat(), "--csv")
    chem_by_id = {r["student_id"]: r["status"] for r in csv.DictReader(io.StringIO(chem_rows.stdout))}
    assert chem_by_id == {"menendez": "late", "ocasio_cortez": "present"}  # his clip before the start: not counted

    term = facepipe(stack, "attendance", "student", "menendez")
    assert f"{DAY} 09:00 bio101" in term.stdout and f"{DAY} 11:00 chem201" in term.stdout
    assert "menendez: 2 session(s): 0 present, 1 late, 1 absent, 0 visitor" in term.stdout


def test_bad_timetables_are_refused_with_their_lines_and_nothing_changes(day, tmp_path):
    stack = day.stack
    (tmp_path / "t.csv").write_text("course,rooms,weekdays,start,end,timezone\nbio101,lab-cam,Mon,10:00,09:00,UTC\n")
    (tmp_path / "r.csv").write_text("course,student_id\nhistory,markey\n")
    refused = facepipe(
        stack, "attendance", "import", "--timetable", str(tmp_path / "t.csv"), "--roster", str(tmp_path / "r.csv")
    )
    assert refused.returncode == 1
    assert f"{tmp_path / 't.csv'}: line 2: end 09:00 is not after start 10:00" in refused.stderr
    assert f"{tmp_path / 'r.csv'}: line 2: course 'history' is not in the timetable" in refused.stderr
    courses = facepipe(stack, "attendance", "courses")
    assert "bio101" in courses.stdout and "chem201" in courses.stdout  # the timetable before, unchanged


def test_erase_reaches_every_attendance_record_of_a_student(day):
    """Anything stored about a person is data erase must reach: every session item naming them and their place on
    every roster go, and the other students' records stay."""
    stack = day.stack
    erased = facepipe(
        stack, "people", "erase", "menendez", "--bucket", stack.outputs.bucket, "--table", stack.outputs.students_table
    )
    assert erased.returncode == 0, erased.stderr
    assert "4 attendance item(s) and roster(s) changed" in erased.stdout  # two sessions, two rosters
    term = facepipe(stack, "attendance", "student", "menendez")
    assert "menendez: 0 session(s)" in term.stdout
    courses = facepipe(stack, "attendance", "courses")
    assert "menendez" not in courses.stdout and "bio101" in courses.stdout
    report = facepipe(stack, "attendance", "report", "--course", "bio101", "--date", DAY.isoformat(), "--csv")
    assert "menendez" not in report.stdout and "markey" in report.stdout
