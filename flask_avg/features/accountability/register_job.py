"""The register of processing activities (Art. 30) as a job (``register``): the
workbook kept as the job's private, expiring result file, every download audited.

``flask avg register -o FILE.xlsx`` runs it inline with a progress bar. The page's
download stays within the request: the register is built from the declarations,
not from the members, so it takes as long for a federation as for a small club.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app

from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.jobs import JobContext, Kind

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

KIND = "register"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def register_kind(state: AvgState) -> None:
    """Make the register a job kind (the accountability plugin's ``init_app``)."""
    state.jobs.register(
        Kind(
            KIND,
            run=run,
            action="avg.register.manage",
            label=_l("Register of processing activities"),
        )
    )


def run(ctx: JobContext) -> int:
    """Build the register and write the workbook; returns its activities."""
    from flask_avg.features.accountability import register

    state: AvgState = current_app.extensions["avg"]
    ctx.progress(0, 2)
    reg = register.build(state)
    ctx.progress(1, 2)
    body = register.to_excel(reg)
    with ctx.result_file("register.xlsx", XLSX) as out:
        out.write(body)
    ctx.progress(2, 2)
    return len(reg.activities)
