"""One way to write a date and a moment, through Babel in the page's language."""

from __future__ import annotations

from datetime import UTC, date, datetime

from flask import render_template_string, session
from flask_babel import refresh

from flask_avg.core.jinja import format_day, format_month, format_value, format_when


def test_dates_and_moments_in_both_languages(app):
    moment = datetime(2026, 3, 4, 14, 5, tzinfo=UTC)
    with app.test_request_context("/"):
        assert format_day(date(2026, 3, 4)) == "4 maart 2026"
        assert format_when(moment) == "4 maart 2026 om 14:05"
        assert format_value(date(2026, 3, 4)) == format_day(date(2026, 3, 4))
        assert format_value(moment) == format_when(moment)
        assert format_day(moment) == "4 maart 2026"
        assert format_month(date(2026, 3, 1)) == "mrt 2026"
        assert format_day(None) == "–" and format_when("") == "–"
        session["avg_locale"] = "en"
        refresh()
        assert format_day(date(2026, 3, 4)) == "March 4, 2026"
        assert format_when(moment) == "March 4, 2026 at 2:05\u202fPM"
        html = render_template_string("{{ d|avg_date }} / {{ m|avg_datetime }}", d=moment, m=moment)
        assert html.startswith("March 4, 2026 / March 4, 2026 at")
