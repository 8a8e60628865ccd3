"""Data-subject requests (Art. 15-21): erasure, restriction, objection, correction.

A member files a request while logged in; the board moves it through
``received -> in_progress -> completed | rejected`` before its deadline
(``AVG_REQUEST_DEADLINE_DAYS`` after receipt). At most one request per kind
is open per member, enforced by a unique key that only open requests carry.

Completing a request takes effect here: an erasure runs the erasure engine and
keeps a summary of what was removed, anonymised and retained (counts and legal
reasons only); a restriction marks the member restricted; an objection records
the purpose objected to. Once a member is erased, however that happened, their
other open requests close (status ``closed``) and their messages are blanked.
Hosts exclude such members from their own queries
with :func:`not_restricted` and :func:`not_objected`.
"""

from __future__ import annotations

from flask_avg.features.requests.engine import (
    ExtensionRefused,
    InvalidValue,
    apply_correction,
    can_extend,
    change_status,
    correction_value,
    counts,
    deadline_for,
    erase,
    extend,
    field_key_of,
    file_request,
    open_request,
    queue,
    requests_of,
    summarise,
    was_extended,
)
from flask_avg.features.requests.limits import (
    active_limit,
    is_restricted,
    lift,
    lift_request,
    not_objected,
    not_restricted,
    objections,
)
from flask_avg.features.requests.models import (
    BOARD_CHANNELS,
    BOARD_IDENTITY_CHECKS,
    CHANNELS,
    CLOSED,
    COMPLETED,
    CORRECTION,
    ERASURE,
    EXTENDED,
    IDENTITY_CHECKS,
    IN_PROGRESS,
    KINDS,
    LIFTED,
    OBJECTION,
    OPEN,
    OVERDUE,
    RECEIVED,
    REJECTED,
    RESTRICTION,
    STATUSES,
    TRANSITIONS,
    DataRequest,
    ProcessingLimit,
    RequestError,
)
from flask_avg.features.requests.notify import (
    Mail,
    Recipient,
    check_password,
    default_mail_sender,
    default_password_checker,
    erasure_lines,
    field_label_of,
    login_user_of,
    notify,
    notify_overdue,
    recipient_of,
    subject_of,
)
from flask_avg.features.requests.preview import ErasurePreview, erasure_preview
from flask_avg.features.requests.purposes import (
    consent_based_purposes,
    host_text,
    objection_purposes,
    purpose_key,
    purpose_label,
)

__all__ = [
    "BOARD_CHANNELS",
    "BOARD_IDENTITY_CHECKS",
    "CHANNELS",
    "IDENTITY_CHECKS",
    "ErasurePreview",
    "ExtensionRefused",
    "InvalidValue",
    "apply_correction",
    "can_extend",
    "consent_based_purposes",
    "correction_value",
    "erasure_preview",
    "field_key_of",
    "field_label_of",
    "subject_of",
    "was_extended",
    "CLOSED",
    "COMPLETED",
    "CORRECTION",
    "ERASURE",
    "EXTENDED",
    "IN_PROGRESS",
    "KINDS",
    "LIFTED",
    "OBJECTION",
    "OPEN",
    "OVERDUE",
    "RECEIVED",
    "REJECTED",
    "RESTRICTION",
    "STATUSES",
    "TRANSITIONS",
    "DataRequest",
    "Mail",
    "ProcessingLimit",
    "Recipient",
    "RequestError",
    "active_limit",
    "erase",
    "extend",
    "change_status",
    "check_password",
    "counts",
    "deadline_for",
    "default_mail_sender",
    "default_password_checker",
    "erasure_lines",
    "file_request",
    "host_text",
    "objection_purposes",
    "purpose_key",
    "purpose_label",
    "is_restricted",
    "lift",
    "lift_request",
    "login_user_of",
    "not_objected",
    "not_restricted",
    "notify",
    "notify_overdue",
    "recipient_of",
    "objections",
    "open_request",
    "queue",
    "requests_of",
    "summarise",
]
