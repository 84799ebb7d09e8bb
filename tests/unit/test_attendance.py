"""Who attended a session: present, late, absent, visitors and unknown faces, as a teacher would count them."""

from __future__ import annotations

from datetime import date, timedelta

from facepipe.identity.attendance import minutes_in_view, session_attendance
from facepipe.identity.timetable import validate_timetable

TIMETABLE = "course,rooms,weekdays,start,end,timezone\nbio101,lab-cam,Tue,09:00,10:00,Europe/Berlin\n"
ROSTER = "course,student_id\nbio101,markey\nbio101,swalwell\nbio101,menendez\n"


def test_present_late_absent_visitors_and_unknown_faces():
    (course,) = validate_timetable(TIMETABLE, ROSTER).courses
    session = course.session_on(date(2026, 12, 1))
    at = session.starts.__add__
    mentions = [
        ("markey", at(timedelta(minutes=2))),  # on time
        ("markey", at(timedelta(minutes=2, seconds=30))),
        ("markey", at(timedelta(minutes=40))),  # back after a break: a second stretch
        ("swalwell", at(timedelta(minutes=10, seconds=1))),  # one second past the grace: late
        ("ocasio_cortez", at(timedelta(minutes=30))),  # not on the roster
        ("unknown-3", at(timedelta(minutes=5))),
        ("unknown-3", at(timedelta(minutes=6))),  # the same stranger twice: one unknown face
        ("unknown-4", at(timedelta(minutes=7))),
        ("menendez", at(timedelta(minutes=-1))),  # before the start: not this session
        ("menendez", at(timedelta(minutes=61))),  # after the end
    ]
    result = session_attendance(session, list(course.roster), mentions)
    by_id = {p.person_id: p for p in result.people}
    assert [p.person_id for p in result.people] == ["markey", "menendez", "swalwell", "ocasio_cortez"]
    assert by_id["markey"].status == "present" and by_id["markey"].clips == 3
    assert by_id["markey"].first_seen == at(timedelta(minutes=2))
    assert by_id["markey"].last_seen == at(timedelta(minutes=40))
    assert by_id["markey"].minutes == round((30 + 0.5 + 0.5) / 60, 1)  # 02:00-02:30 and 40:00, each + one clip
    assert by_id["swalwell"].status == "late"
    assert by_id["menendez"].status == "absent" and by_id["menendez"].first_seen is None
    assert by_id["ocasio_cortez"].status == "visitor"
    assert result.unknown_faces == 2
    assert (result.count("present"), result.count("late"), result.count("absent"), result.count("visitor")) == (
        1,
        1,
        1,
        1,
    )


def test_minutes_in_view_bridge_short_gaps_only():
    (course,) = validate_timetable(TIMETABLE, ROSTER).courses
    start = course.session_on(date(2026, 12, 1)).starts
    every_half_second = [start + timedelta(seconds=0.5 * n) for n in range(240)]  # two minutes of clips
    assert minutes_in_view(every_half_second) == 2.0
    with_a_gap = [*every_half_second, start + timedelta(minutes=10)]  # eight minutes away: not in view
    assert minutes_in_view(with_a_gap) == 2.0
    assert minutes_in_view([]) == 0.0


def test_no_cell_of_the_export_can_run_as_a_formula():
    """A name like =HYPERLINK(...) in a student record would run when the school's spreadsheet opens the export."""
    import csv
    import io

    from facepipe.ops.attendance import ReportRow, to_csv

    fields = dict(
        course="bio",
        date="2026-12-01",
        start="09:00",
        student_id="x1",
        status="present",
        first_seen="09:01:00",
        last_seen="09:02:00",
        minutes=1.0,
    )
    names = ['=HYPERLINK("http://evil","x")', "+1", "-2+3", "@SUM(A1)", "Ada Lovelace"]
    rows = [ReportRow(**fields | {"name": n}) for n in names]
    read = [r["name"] for r in csv.DictReader(io.StringIO(to_csv(rows)))]
    assert read == ['\'=HYPERLINK("http://evil","x")', "'+1", "'-2+3", "'@SUM(A1)", "Ada Lovelace"]
