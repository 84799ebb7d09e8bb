"""Timetables and rosters: every bad row named with its file and line; sessions in the course's own time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime

from facepipe.identity.timetable import validate_timetable

TIMETABLE = """course,rooms,weekdays,start,end,timezone,grace_minutes
bio101,lab-cam;lab-cam-2,Mon-Wed,09:00,10:00,Europe/Berlin,5
chem201,hall-cam,Thu;Fri,11:00,12:30,America/New_York,
"""
ROSTER = """course,student_id
bio101,markey
bio101,swalwell
chem201,menendez
"""


def test_a_good_timetable_and_roster_become_courses():
    report = validate_timetable(TIMETABLE, ROSTER)
    assert report.ok, report.describe()
    bio, chem = sorted(report.courses, key=lambda c: c.id)
    assert bio.rooms == ("lab-cam", "lab-cam-2") and bio.weekdays == (0, 1, 2) and bio.grace_minutes == 5
    assert bio.roster == ("markey", "swalwell") and chem.roster == ("menendez",)
    assert chem.weekdays == (3, 4) and chem.grace_minutes == 10  # the default


def test_every_bad_row_is_named_with_its_file_and_line_and_nothing_is_kept():
    timetable = """course,rooms,weekdays,start,end,timezone
bio101,lab-cam,Mon,09:00,10:00,Europe/Berlin
bio101,lab-cam,Tue,09:00,10:00,Europe/Berlin
phys,Lab Cam,Mon,09:00,10:00,Europe/Berlin
art,studio,Funday,09:00,10:00,Europe/Berlin
math,room-1,Mon,10:00,09:00,Europe/Berlin
music,room-2,Mon,09:00,25:00,Europe/Berlin
drama,room-3,Mon,09:00,10:00,Mars/Olympus
"""
    roster = """course,student_id
bio101,markey
history,swalwell
bio101,markey
bio101,not a person id
"""
    report = validate_timetable(timetable, roster, timetable_name="t.csv", roster_name="r.csv")
    assert not report.ok and report.courses == []
    assert report.problems == [
        ("t.csv", 3, "course 'bio101' appears twice"),
        ("t.csv", 4, "room 'Lab' is not a device id (lower case letters, digits and '-')"),
        ("t.csv", 5, "weekday 'funday' is not one of Mon..Sun (or a range such as Mon-Fri)"),
        ("t.csv", 6, "end 09:00 is not after start 10:00"),
        ("t.csv", 7, "end '25:00' is not a time HH:MM"),
        ("t.csv", 8, "timezone 'Mars/Olympus' is not an IANA time zone (such as Europe/Berlin)"),
        ("r.csv", 3, "course 'history' is not in the timetable"),
        ("r.csv", 4, "markey is on bio101's roster twice"),
        ("r.csv", 5, "student_id 'not a person id' is not a person id"),
    ]
    assert "t.csv: line 3: course 'bio101' appears twice" in report.describe()


def test_a_file_missing_a_column_says_which():
    report = validate_timetable("course,rooms,start,end\nbio,lab,09:00,10:00\n", "course,student_id\n")
    assert report.problems == [
        ("timetable", 1, "missing column(s) weekdays, timezone (expected course,rooms,weekdays,start,end,timezone)")
    ]


def test_sessions_are_in_the_courses_time_zone_across_daylight_saving():
    """09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer; a session is found by when it ends."""
    (bio, _) = sorted(validate_timetable(TIMETABLE, ROSTER).courses, key=lambda c: c.id)
    winter = bio.session_on(date(2026, 12, 1))  # a Tuesday
    summer = bio.session_on(date(2026, 7, 1))  # a Wednesday
    assert winter.starts.astimezone(UTC).hour == 8 and summer.starts.astimezone(UTC).hour == 7
    assert winter.id == "bio101#2026-12-01#0900"
    week = bio.sessions_between(datetime(2026, 11, 29, tzinfo=UTC), datetime(2026, 12, 6, tzinfo=UTC))
    assert [s.day.isoformat() for s in week] == ["2026-11-30", "2026-12-01", "2026-12-02"]
    # Ended before `until`: a session still under way is not found.
    assert bio.sessions_between(datetime(2026, 12, 1, 0, tzinfo=UTC), datetime(2026, 12, 1, 8, 30, tzinfo=UTC)) == []


def test_a_weekday_is_a_name_not_a_prefix():
    """On the old main "Monkey-Friendly" was read as Mon-Fri: a column of notes turned into five sessions a week."""
    timetable = "course,rooms,weekdays,start,end,timezone\nbio,cam,{},09:00,10:00,UTC\n"
    for written, days in [("Mon-Fri", (0, 1, 2, 3, 4)), ("monday;Thurs", (0, 3)), ("Tues-Thu", (1, 2, 3))]:
        report = validate_timetable(timetable.format(written), "course,student_id\n")
        assert report.ok and report.courses[0].weekdays == days, (written, report.describe())
    report = validate_timetable(timetable.format("Monkey-Friendly"), "course,student_id\n")
    assert "timetable: line 2: weekday 'monkey-friendly' is not one of Mon..Sun" in report.describe()


def test_duplicate_headers_and_huge_fields_are_refused_by_line():
    twice = "course,rooms,weekdays,start,end,timezone,start\nbio,cam,Mon,09:00,10:00,UTC,11:00\n"
    assert (
        "timetable: line 1: column(s) start appear more than once"
        in validate_timetable(twice, "course,student_id\n").describe()
    )
    huge = (
        "course,rooms,weekdays,start,end,timezone\nbio,cam,Mon,09:00,10:00,UTC\nchem,cam,"
        + "x" * 2000
        + ",09:00,10:00,UTC\n"
    )
    assert (
        "timetable: line 3: weekdays: longer than 1000 characters"
        in validate_timetable(huge, "course,student_id\n").describe()
    )
    past_csv_limit = 'course,student_id\nbio,"' + "y" * 200_000 + '"\n'
    report = validate_timetable(
        "course,rooms,weekdays,start,end,timezone\nbio,cam,Mon,09:00,10:00,UTC\n", past_csv_limit
    )
    assert "roster: line" in report.describe() and not report.ok


def test_a_windows_spreadsheets_plain_csv_is_refused_with_how_to_save_it(tmp_path):
    from facepipe.ops.attendance import AttendanceError, read_timetable

    timetable, roster = tmp_path / "t.csv", tmp_path / "r.csv"
    timetable.write_bytes(
        "course,rooms,weekdays,start,end,timezone\nbiolog\u00eda,cam,Mon,09:00,10:00,UTC\n".encode("cp1252")
    )
    roster.write_text("course,student_id\n")
    import pytest

    with pytest.raises(AttendanceError, match=r"t.csv: line 2: not UTF-8 \(byte 0xED.*save it as \"CSV UTF-8\""):
        read_timetable(timetable, roster)


def test_a_session_on_a_night_the_clocks_change_lasts_as_long_as_on_any_other():
    """01:00-02:00 Europe/London: on 2026-03-29 01:00 does not happen (the clocks jump to 02:00), on 2026-10-25 it
    happens twice. Each session lasts its hour, starting when the clocks first read its start (or just after)."""
    (course,) = validate_timetable(
        "course,rooms,weekdays,start,end,timezone\nnight,cam,Sun,01:00,02:00,Europe/London\n", "course,student_id\n"
    ).courses
    for day in (date(2026, 3, 29), date(2026, 10, 25), date(2026, 7, 5)):
        session = course.session_on(day)
        # In UTC: Python subtracts two times of one zone by their wall clocks (01:00 - 01:00 on the autumn night).
        assert (session.ends.astimezone(UTC) - session.starts.astimezone(UTC)).total_seconds() == 3600, day
    spring = course.session_on(date(2026, 3, 29))
    assert spring.starts.astimezone(UTC) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 02:00 BST, the hour after
    autumn = course.session_on(date(2026, 10, 25))
    assert autumn.starts.astimezone(UTC) == datetime(2026, 10, 25, 0, 0, tzinfo=UTC)  # the first 01:00 (BST)
