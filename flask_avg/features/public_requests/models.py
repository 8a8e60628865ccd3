"""Requests from people without an account: one row per request, from the form to the answer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from flask_avg.core.models import AvgBase
from flask_avg.core.types import BigId, UTCDateTime, utcnow

#: a public request's life: mail sent, address proven, answered (or more proof asked)
PENDING, VERIFIED, PROOF_ASKED, DONE = "pending", "verified", "proof_asked", "done"


class PublicRequest(AvgBase):
    """A request filed on the public page.

    ``email`` is kept only while the request needs an answer (it is blanked when
    the request is done or its people erased); ``email_hash`` and ``client_hash``
    (keyed hashes, never the values) count requests for the rate limits.
    ``nonce`` makes the verification link single-use, ``download_nonce`` the
    access export's link; ``subjects`` lists the matched subjects' keys.
    """

    __tablename__ = "avg_public_request"
    __table_args__ = (
        Index("ix_avg_public_request_email_hash", "email_hash", "created_at"),
        Index("ix_avg_public_request_client_hash", "client_hash", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=PENDING)
    email: Mapped[str | None] = mapped_column(String(254))
    email_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    client_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    language: Mapped[str | None] = mapped_column(String(8))
    purpose: Mapped[str | None] = mapped_column(String(200))
    field: Mapped[str | None] = mapped_column(String(200))
    message: Mapped[str | None] = mapped_column(Text)
    nonce: Mapped[str | None] = mapped_column(String(64))
    subjects: Mapped[str | None] = mapped_column(String(2000))
    requests: Mapped[str | None] = mapped_column(String(2000))
    download_nonce: Mapped[str | None] = mapped_column(String(64))
    download_file: Mapped[str | None] = mapped_column(String(200))
    download_expires: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
