"""The preview is the purge: on a seeded club its counts equal what the purge then does,
for every category and model, in batches or not, on every database leg."""

from __future__ import annotations

from datetime import date

import pytest

from example_app.demo import seed
from example_app.models import db
from flask_avg.extension import get_state
from flask_avg.features.retention.preview import preview
from flask_avg.features.retention.service import purge

TODAY = date(2026, 11, 22)


def _counts(result):  # noqa: ANN001, ANN202
    return {
        (category, name): (c.deleted, c.anonymised)
        for category, models in result.categories.items()
        for name, c in models.items()
        if c.deleted or c.anonymised
    }


@pytest.mark.parametrize("batch", [5000, 7])
def test_preview_counts_equal_the_purge_for_every_category(app, batch):
    seed(n_members=120, today=TODAY)
    state = get_state()
    for key, days in {"members": 365, "signups": 180, "accounts": 365}.items():
        state.settings.set(f"retention.{key}.days", days)
    db.session.commit()
    app.config["AVG_PURGE_BATCH_SIZE"] = batch
    shown = preview(state, as_of=TODAY)
    dry = purge(state, TODAY, dry_run=True)
    done = purge(state, TODAY)
    assert _counts(dry) == _counts(done)
    assert done.refused == dry.refused
    assert done.plugin_erased == dry.plugin_erased
    # the page's figures: per category and model, deleted + anonymised
    real = {
        category: {name: c.deleted + c.anonymised for name, c in models.items()}
        for category, models in done.categories.items()
    }
    for category, models in shown.items():
        for name, n in models.items():
            assert n == real.get(category, {}).get(name, 0), (category, name)
    # every category of the seed is reached: members, sign-ups (and the invoices stay)
    assert sum(shown["members"].values()) > 0
    assert sum(shown["signups"].values()) > 0
    # a second preview after the purge finds nothing left
    db.session.expire_all()
    again = preview(state, as_of=TODAY)
    assert all(n == 0 for models in again.values() for n in models.values())
