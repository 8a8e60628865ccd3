"""Every event flask-avg emits, as blinker signals.

Connect with ``@signal.connect_via(app)``; the sender is always the Flask app.
Keyword arguments are listed per signal. None of them carries personal values
beyond the objects the receiver could load itself.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: An audit entry was written. ``entry``: the :class:`~flask_avg.core.models.AuditEntry`.
audit_recorded = _signals.signal("avg-audit-recorded")

#: A user was refused a flask-avg action. ``user``: the user or None,
#: ``action``: the action name, ``endpoint``: the Flask endpoint.
access_denied = _signals.signal("avg-access-denied")

#: A member saw their own data page. ``subject``: the member.
personal_data_viewed = _signals.signal("avg-personal-data-viewed")

#: Personal data was changed through flask-avg. ``subject``, ``model`` (name),
#: ``fields`` (list of column names), ``actor``: the user who changed it.
#: Connect here to send the member a confirmation e-mail.
personal_data_changed = _signals.signal("avg-personal-data-changed")

#: A data-subject request changed state. ``request``: the request record,
#: ``event``: one of "received", "in_progress", "completed", "rejected", or "lifted"
#: when the board lifts a restriction or objection.
request_event = _signals.signal("avg-request-event")

#: A subject was erased. ``subject_id``, ``result``: the erasure result
#: (removed, anonymised and retained counts per model, with reasons).
subject_erased = _signals.signal("avg-subject-erased")

#: A retention purge finished. ``result``: counts per retention category, ``dry_run``.
purge_completed = _signals.signal("avg-purge-completed")

#: Data was exported. ``subject_id`` (None for list exports), ``format``, ``actor``.
data_exported = _signals.signal("avg-data-exported")

#: Consent was given or withdrawn. ``subject_id``, ``purpose``, ``given`` (bool), ``record``.
consent_changed = _signals.signal("avg-consent-changed")

#: A consent is about to expire. ``subject_id``, ``purpose``, ``expires_at``.
consent_expiring = _signals.signal("avg-consent-expiring")

#: A personal-data breach was recorded or updated. ``breach``, ``created`` (bool).
breach_recorded = _signals.signal("avg-breach-recorded")

#: An ACL group, membership or rule changed. ``change``: a short code such as
#: "group.add" or "rules.set", ``actor``: the user who made it (None from the CLI),
#: ``detail``: the audited detail (group key, user id, rule values).
acl_changed = _signals.signal("avg-acl-changed")
