"""flask-avg's own Alembic migrations, kept apart from the host's.

They record their version in ``avg_alembic_version`` so they never touch the
host's ``alembic_version``. Hosts on Flask-Migrate keep running
``flask db upgrade`` for their own tables and run ``flask avg upgrade`` for
flask-avg's; autogenerate leaves flask-avg's tables alone through the filter
:mod:`flask_avg.core.migrate` gives Flask-Migrate.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic import command
from alembic.config import Config

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

HERE = Path(__file__).parent
VERSION_TABLE = "avg_alembic_version"


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """For the host's Alembic ``env.py``: skip flask-avg's tables in autogenerate."""
    if type_ == "table" and name is not None and name.startswith("avg_"):
        return False
    table = getattr(obj, "table", None)
    return not (table is not None and str(table.name).startswith("avg_"))


def alembic_config(connection: Any) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["connection"] = connection
    return config


def upgrade(state: AvgState, revision: str = "head") -> None:
    with state.db.engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)


def create_and_stamp(state: AvgState) -> list[str]:
    """Create every flask-avg table, mark the schema current, and let each plugin
    add the rows it starts with (the ACL's default groups); returns their messages."""
    from flask_avg.core.models import AvgBase

    engine = state.db.engine
    AvgBase.metadata.create_all(engine)
    with engine.begin() as conn:
        command.stamp(alembic_config(conn), "head")
    messages = [m for plugin in state.plugins if (m := plugin.install(state))]
    state.db.session.commit()
    return messages
