"""The guardian links: which login account may act for which subject (a child)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from flask_avg.core.models import AvgBase
from flask_avg.core.types import BigId, UTCDateTime, utcnow

#: a link's life: the board invited someone, they accepted, it ended
INVITED, ACTIVE, ENDED = "invited", "active", "ended"


class GuardianLink(AvgBase):
    """One guardian of one subject.

    ``subject`` is the child's key as text, ``guardian`` the guardian's login
    account key (empty while the invitation is open). The invited address is
    never stored: only a keyed hash of it (``email_hash``), to check that the
    account accepting the invitation is the one it was sent to. ``nonce`` makes
    the invitation link single-use; ``end_reason`` is a short code
    (``unlinked``, ``age``, ``erased``).
    """

    __tablename__ = "avg_guardian"
    __table_args__ = (
        Index("ix_avg_guardian_subject", "subject"),
        Index("ix_avg_guardian_guardian", "guardian"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(String(64), nullable=False)
    guardian: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=INVITED)
    email_hash: Mapped[str | None] = mapped_column(String(64))
    nonce: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(64))
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(32))
