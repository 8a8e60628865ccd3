"""Alembic environment for flask-avg's own tables; run through ``flask avg upgrade``."""

from alembic import context

from flask_avg.core.models import AvgBase
from flask_avg.migrations import VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=AvgBase.metadata,
    version_table=VERSION_TABLE,
    include_object=lambda obj, name, type_, reflected, compare_to: (
        type_ != "table" or name is None or name.startswith("avg_")
    ),
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
