"""Closing sessions after an outage (facepipe.pipeline.attendance): the scheduled function looks back from where it
last finished, not a fixed two days, and never past the clips' retention (the sightings a session is counted from
are gone then). On moto, with the tables as the template declares them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from moto import mock_aws

from facepipe.core.settings import explicit_settings
from facepipe.identity.timetable import validate_timetable
from facepipe.pipeline.attendance import close_sessions, store
from tests.unit.test_handlers import create_template_table


@pytest.fixture()
def settings(aws_env):
    with mock_aws():
        for logical in ("AttendanceTable", "SightingsTable"):
            create_template_table(logical.lower(), logical)
        yield explicit_settings(attendance_table="attendancetable", sightings_table="sightingstable")


def test_a_week_without_runs_is_caught_up_and_what_is_past_retention_stays_open_and_is_said(settings, caplog):
    everyday = "course,rooms,weekdays,start,end,timezone\nhome,cam,Mon-Sun,08:00,08:30,UTC\n"
    (course,) = validate_timetable(everyday, "course,student_id\nhome,ada\n").courses
    store(settings).replace_courses([course])
    day0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)

    first = close_sessions(day0, settings)  # the first run looks back two days
    assert [s.session.day.day for s in first] == [1, 2]
    # The scheduler off for five days (on the old main the two-day look-back lost days 3-4 for ever).
    caught_up = close_sessions(day0 + timedelta(days=5), settings)
    assert [s.session.day.day for s in caught_up] == [3, 4, 5, 6, 7]
    assert close_sessions(day0 + timedelta(days=5, minutes=5), settings) == []  # nothing twice
    # Twelve days later: the sightings of the first five are gone with the clips (7 days): those stay open, said.
    late = close_sessions(day0 + timedelta(days=17), settings)
    assert [s.session.day.day for s in late] == [13, 14, 15, 16, 17, 18, 19]  # within the last 7 days
    assert "past the clips' retention (7 days)" in caplog.text
