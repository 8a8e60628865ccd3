"""The breach register table (Arts. 33(5) and 34; seed 004 art. 5)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from flask_avg.core.models import AvgBase
from flask_avg.core.types import BigId, UTCDateTime, utcnow


class Breach(AvgBase):
    """One personal-data breach: what happened, to whom, and who was told when.

    It describes the breach in the board's words and counts the people
    affected; it never copies their personal data.
    """

    __tablename__ = "avg_breach"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    discovered_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    nature: Mapped[str] = mapped_column(Text, nullable=False, default="")
    scope: Mapped[str] = mapped_column(Text, nullable=False, default="")
    consequences: Mapped[str] = mapped_column(Text, nullable=False, default="")
    categories: Mapped[str] = mapped_column(Text, nullable=False, default="")
    affected_count: Mapped[int | None] = mapped_column(Integer)
    affected_computed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    affected_filter_json: Mapped[str | None] = mapped_column(Text)
    expected_recovery: Mapped[str] = mapped_column(Text, nullable=False, default="")
    measures_taken: Mapped[str] = mapped_column(Text, nullable=False, default="")
    measures_planned: Mapped[str] = mapped_column(Text, nullable=False, default="")
    ap_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ap_reference: Mapped[str] = mapped_column(String(100), nullable=False, default="")
    ap_not_required_reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    people_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    people_not_required_reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_by: Mapped[str | None] = mapped_column(String(64))

    @property
    def category_list(self) -> list[str]:
        return [c for c in self.categories.split(",") if c]

    @property
    def affected_filter(self) -> dict[str, Any]:
        return json.loads(self.affected_filter_json) if self.affected_filter_json else {}
