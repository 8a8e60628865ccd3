"""The board's mail when a breach's 72-hour clock passes 48 hours unanswered.

Checked by the daily purge and ``flask avg notify-overdue`` (run it hourly for a
timely warning); each breach is mailed once. Recipients: ``AVG_BOARD_EMAIL``, else
the users allowed ``avg.breaches.manage``. The text is ``avg/mail/breach_clock_board.txt``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from flask_babel import format_datetime

from flask_avg.core import mail as kernel_mail
from flask_avg.core.types import utcnow
from flask_avg.features.breaches.service import DEADLINE, running

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

#: how long a clock runs before the board is warned (of the 72 hours)
WARN_AFTER = timedelta(hours=48)
EVENT = "clock_48h"
MANAGE = "avg.breaches.manage"


def notify_clocks(state: AvgState, now: datetime | None = None) -> int:
    """Mail the board about each running breach clock past 48 hours, once; returns how many."""
    now = now or utcnow()
    sent = 0
    for breach, clock in running(state.db.session, now):
        if now - breach.discovered_at < WARN_AFTER:
            continue
        if not kernel_mail.once(state, "breach", breach.id, EVENT):
            continue
        told = kernel_mail.mail_board(
            state,
            MANAGE,
            "breach_clock_board",
            EVENT,
            breach=breach,
            deadline=breach.discovered_at + DEADLINE,
            when=lambda moment: format_datetime(moment, "medium"),
            overdue=clock.remaining is not None and clock.remaining.total_seconds() <= 0,
        )
        if told:
            sent += 1
        else:  # not told: the next run tries again
            kernel_mail.release(state, "breach", breach.id, EVENT)
    return sent
