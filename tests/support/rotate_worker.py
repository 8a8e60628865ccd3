"""Runs a key rotation in a process of its own, for the kill-and-rerun test.

``python -m tests.support.rotate_worker URL KEYS BATCH_SIZE`` rotates every encrypted
column; after its first committed batch it prints ``batch`` and waits to be killed.
"""

from __future__ import annotations

import sys
import threading

from example_app import create_app
from flask_avg.core import crypto


def main(argv: list[str]) -> None:
    url, keys, size = argv[0], argv[1], int(argv[2])
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x", "AVG_ENCRYPTION_KEYS": keys}
    )
    never = threading.Event()

    def after_batch(_n: int) -> None:
        print("batch", flush=True)
        never.wait()  # the test kills the process here, between two batches

    with app.app_context():
        state = app.extensions["avg"]
        for item in crypto.rotation_plan(state.db):
            crypto.rotate_column(item, state.keyring, batch_size=size, on_batch=after_batch)
    print("finished", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
