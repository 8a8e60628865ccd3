"""Runs one purge in a process of its own (for the fault and concurrency tests).

``python -m tests.support.purge_worker URL AS_OF BATCH_SIZE DELAY`` prints the counts
as JSON; DELAY seconds of sleep after every committed batch.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import date

from example_app import create_app
from flask_avg.features.retention import engine
from flask_avg.features.retention.service import purge


def main(argv: list[str]) -> None:
    url, as_of, size, delay = argv[0], argv[1], int(argv[2]), float(argv[3])
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x", "AVG_PURGE_BATCH_SIZE": size}
    )
    if delay:
        engine.batch_hook = lambda: time.sleep(delay)
    with app.app_context():
        print("started", flush=True)
        result = purge(app.extensions["avg"], date.fromisoformat(as_of), actor="worker")
        out = {
            cat: {name: [c.deleted, c.anonymised] for name, c in models.items()}
            for cat, models in result.categories.items()
        }
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
