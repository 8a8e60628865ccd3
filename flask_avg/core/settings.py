"""Board-editable options stored in the ``avg_setting`` table.

Reads are cached per request in ``g`` (one query loads all settings), writes
are audited by the caller and go through the host's session.
"""

from __future__ import annotations

import json
from typing import Any

from flask import g, has_app_context
from sqlalchemy import select
from sqlalchemy.orm import Session

from flask_avg.core.models import Setting
from flask_avg.core.types import utcnow

_G_KEY = "_avg_settings"


class Settings:
    def __init__(self, session_factory: Any) -> None:
        self._session = session_factory

    @property
    def session(self) -> Session:
        return self._session()  # type: ignore[no-any-return]

    def all(self) -> dict[str, Any]:
        cached = g.get(_G_KEY) if has_app_context() else None
        if cached is None:
            # ORM columns, not the table's: SQLAlchemy 2.0 autoflushes only ORM statements,
            # and a value set earlier in this transaction must be read back
            rows = self.session.execute(select(Setting.key, Setting.value_json)).all()
            cached = {key: json.loads(value) for key, value in rows}
            if has_app_context():
                setattr(g, _G_KEY, cached)
        return cached

    def get(self, key: str, default: Any = None) -> Any:
        return self.all().get(key, default)

    def set(self, key: str, value: Any, *, actor: str | None = None) -> None:
        """Store ``value`` (JSON-serialisable) in the caller's transaction."""
        row = self.session.get(Setting, key)
        encoded = json.dumps(value, sort_keys=True, default=str)
        if row is None:
            self.session.add(Setting(key=key, value_json=encoded, updated_by=actor))
        else:
            row.value_json = encoded
            row.updated_at = utcnow()
            row.updated_by = actor
        if has_app_context() and g.get(_G_KEY) is not None:
            g.get(_G_KEY)[key] = json.loads(encoded)
