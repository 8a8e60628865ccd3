"""Consent tables: the texts members agreed to, every answer, and each member's current answer.

``avg_consent_record`` is the history (one row per answer, never changed);
``avg_consent`` holds the latest answer per member and purpose, so "who may
we mail" is one indexed lookup. Members are referred to by their key as text.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from flask_avg.core.models import AvgBase
from flask_avg.core.types import BigId, UTCDateTime, utcnow


class ConsentPurposeRow(AvgBase):
    """A purpose the board added in the admin screen (code-declared ones are not stored here)."""

    __tablename__ = "avg_consent_purpose"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str] = mapped_column(String(200), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    version: Mapped[str] = mapped_column(String(40), nullable=False)
    expires_days: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_by: Mapped[str | None] = mapped_column(String(64))


class ConsentText(AvgBase):
    """Every text version a member ever answered, so an answer can be proven later."""

    __tablename__ = "avg_consent_text"

    purpose: Mapped[str] = mapped_column(String(64), primary_key=True)
    text_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(40), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    first_used: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


class ConsentRecord(AvgBase):
    """One answer: given or withdrawn, when, to which text, how and (optionally) from where."""

    __tablename__ = "avg_consent_record"
    __table_args__ = (Index("ix_avg_consent_record_subject_purpose", "subject", "purpose"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(String(64), nullable=False)
    purpose: Mapped[str] = mapped_column(String(64), nullable=False)
    given: Mapped[bool] = mapped_column(Boolean, nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    version: Mapped[str] = mapped_column(String(40), nullable=False)
    text_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    method: Mapped[str] = mapped_column(String(20), nullable=False)
    recorded_by: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(45))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ConsentState(AvgBase):
    """The latest answer of one member for one purpose."""

    __tablename__ = "avg_consent"
    __table_args__ = (Index("ix_avg_consent_purpose_given", "purpose", "given"),)

    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(64), primary_key=True)
    given: Mapped[bool] = mapped_column(Boolean, nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    version: Mapped[str] = mapped_column(String(40), nullable=False)
    text_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    record_id: Mapped[int] = mapped_column(BigId, nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
