"""The ACL tables: groups (a tree), memberships by login id, and allow/deny rules."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from flask_avg.core.models import AvgBase


class Group(AvgBase):
    """An ACL group; children inherit their parent's rules (Joomla semantics)."""

    __tablename__ = "avg_group"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    title: Mapped[str] = mapped_column(String(120), nullable=False)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("avg_group.id"))
    super_user: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)

    parent: Mapped[Group | None] = relationship(remote_side=[id])


class GroupMember(AvgBase):
    """A user's membership of an ACL group; the user is referred to by login id."""

    __tablename__ = "avg_group_member"

    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    group_id: Mapped[int] = mapped_column(
        ForeignKey("avg_group.id", ondelete="CASCADE"), primary_key=True
    )


class Rule(AvgBase):
    """An explicit allow or deny of one action for one group; absent means inherited."""

    __tablename__ = "avg_rule"
    __table_args__ = (UniqueConstraint("group_id", "action"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(
        ForeignKey("avg_group.id", ondelete="CASCADE"), nullable=False
    )
    action: Mapped[str] = mapped_column(String(100), nullable=False)
    allow: Mapped[bool] = mapped_column(Boolean, nullable=False)
