"""The audit log in plain language: what an action code and its details say, in words.

Entries store short codes (``retention.settings``) and a detail dict of counts
and codes (``{"days": {"accounts": 3650}}``); the screen shows "Changed the
retention periods" and "Login accounts: 3650 days". Codes this module does not
know (a host's own, a newer feature's) are shown as they are.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from flask_avg.core.i18n import gettext as _
from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.i18n import localise

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

#: action code -> what it says
ACTIONS: dict[str, Any] = {
    "members.list": _l("Viewed the list of %(subjects)s"),
    "members.view": _l("Viewed the data of a %(subject)s"),
    "self.view": _l("Viewed own data"),
    "self.edit": _l("Corrected own data"),
    "self.export": _l("Downloaded own data"),
    "export.subject": _l("Exported the data of a %(subject)s"),
    "export.members": _l("Exported the list of %(subjects)s"),
    "export.audit": _l("Exported the audit log"),
    "inventory.view": _l("Viewed the personal data inventory"),
    "register.save": _l("Changed the register of processing activities"),
    "register.export": _l("Exported the register of processing activities"),
    "register.annex": _l("Viewed the annex for a processor agreement"),
    "retention.settings": _l("Changed the retention periods"),
    "retention.purge": _l("Ran the retention purge"),
    "audit.purged": _l("Dropped old audit log entries"),
    "audit.purge": _l("Dropped old audit log entries"),
    "subject.erased": _l("Erased a %(subject)s"),
    "erasure.replayed": _l("Re-applied erasures after a backup restore"),
    "fields.rights": _l("Changed which fields %(subjects)s may correct"),
    "consent.give": _l("Consent given"),
    "consent.withdraw": _l("Consent withdrawn"),
    "consent.view": _l("Viewed consent records"),
    "consent.reminders": _l("Sent consent reminders"),
    "consent.forget": _l("Removed the consent records of an erased %(subject)s"),
    "consent.purpose.save": _l("Saved a consent purpose"),
    "breach.create": _l("Recorded a data breach"),
    "breach.update": _l("Updated a data breach"),
    "breach.export": _l("Exported the breach register"),
    "request.received": _l("Request received"),
    "request.in_progress": _l("Request taken in hand"),
    "request.completed": _l("Request completed"),
    "request.rejected": _l("Request rejected"),
    "request.closed": _l("Request closed"),
    "request.extended": _l("Request deadline extended"),
    "restriction.lifted": _l("Restriction of processing lifted"),
    "objection.lifted": _l("Objection lifted"),
    "acl.group.add": _l("Added an access group"),
    "acl.group.rename": _l("Renamed an access group"),
    "acl.group.move": _l("Moved an access group"),
    "acl.group.delete": _l("Deleted an access group"),
    "acl.member.add": _l("Added a user to an access group"),
    "acl.member.remove": _l("Removed a user from an access group"),
    "acl.rules.set": _l("Changed the permissions of an access group"),
    "login.succeeded": _l("Logged in"),
    "login.failed": _l("Failed login"),
    "mail.failed": _l("A mail could not be sent"),
    "plugin.external_erased": _l("Erased data kept outside the database"),
    "plugin.external_failed": _l("Erasing data kept outside the database failed"),
}

#: detail key -> its name on the screen
DETAIL_KEYS: dict[str, Any] = {
    "rows": _l("Rows shown"),
    "total": _l("Total"),
    "page": _l("Page"),
    "filtered": _l("Searched"),
    "special": _l("Special categories included"),
    "columns": _l("Columns"),
    "status": _l("Status"),
    "days": _l("Retention periods"),
    "erase": _l("On erasure"),
    "as_of": _l("As of"),
    "dry_run": _l("Trial run"),
    "categories": _l("Per category"),
    "models": _l("Per kind of data"),
    "audit_entries_dropped": _l("Audit log entries dropped"),
    "dropped": _l("Entries dropped"),
    "older_than_days": _l("Older than (days)"),
    "stale_accounts": _l("Unused login accounts removed"),
    "refused": _l("Refused"),
    "plugins": _l("Other data"),
    "plugins_erased": _l("Other data erased"),
    "reason": _l("Reason"),
    "request": _l("Request number"),
    "kind": _l("Kind"),
    "deadline": _l("Deadline"),
    "purpose": _l("Purpose"),
    "version": _l("Text version"),
    "method": _l("How"),
    "format": _l("Format"),
    "count": _l("Number"),
    "group": _l("Group"),
    "parent": _l("Parent group"),
    "rules": _l("Permissions"),
    "removed": _l("Removed"),
    "anonymised": _l("Anonymised"),
    "retained": _l("Kept"),
    "deleted": _l("Deleted"),
    "separator": _l("Separator"),
    "endpoint": _l("Page"),
}

#: code values that read better as words
VALUES: dict[str, Any] = {
    "delete": _l("delete"),
    "anonymise": _l("anonymise"),
    "allow": _l("allowed"),
    "deny": _l("denied"),
    "inherit": _l("inherited"),
    "current": _l("current"),
    "former": _l("former"),
    "erased": _l("erased"),
    "all": _l("all"),
    "request": _l("on request"),
    "retention": _l("retention period ended"),
    "stale": _l("unused account"),
    "replay": _l("replayed after a restore"),
}


def action_text(state: AvgState, code: str) -> str:
    """What action ``code`` says; a permission (a refused page) by its description;
    an unknown code as it is."""
    if code in ACTIONS:
        return str(ACTIONS[code])
    if code in state.actions:
        return str(localise(state.actions[code]))
    return code


def action_choices(state: AvgState, codes: list[str]) -> list[tuple[str, str]]:
    """(code, words) for the action filter, in the order of the words."""
    return sorted(((c, action_text(state, c)) for c in codes), key=lambda p: p[1].lower())


def _names(state: AvgState) -> dict[str, str]:
    """Readable names of everything a detail may name by key: retention categories,
    models, plugins' own data."""
    names = {key: str(localise(cat.label)) for key, cat in state.catalogue.retention.items()}
    names.update({key: str(localise(label)) for key, label in state.plugins.labels().items()})
    names.update({m.name: str(localise(m.label)) for m in state.registry})
    return names


def _value(value: Any, names: dict[str, str], key: str) -> str:
    from flask_avg.core.jinja import format_day, format_value

    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if key == "days" and isinstance(value, int):
        return _("%(days)s days", days=value)
    if isinstance(value, datetime | date):
        return format_value(value)
    if isinstance(value, str):
        if len(value) == 10 and value[4:5] == "-":
            try:
                return format_day(date.fromisoformat(value))
            except ValueError:
                return value
        return str(VALUES.get(value) or names.get(value) or value)
    if isinstance(value, dict):
        return ", ".join(f"{_label(k, names)}: {_value(v, names, key)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_value(v, names, key) for v in value)
    return format_value(value)


def _label(key: str, names: dict[str, str]) -> str:
    if key in names:
        return names[key]
    if key in DETAIL_KEYS:
        return str(DETAIL_KEYS[key])
    return key.replace("_", " ").capitalize()


def readable_detail(state: AvgState, detail: dict[str, Any]) -> list[tuple[str, str]]:
    """``detail`` as (name, value) pairs in words: ``{"days": {"accounts": 3650}}`` reads
    ("Retention periods", "Login accounts: 3650 days")."""
    if not detail:
        return []
    names = _names(state)
    return [
        (str(DETAIL_KEYS.get(k) or k.replace("_", " ").capitalize()), _value(v, names, k))
        for k, v in detail.items()
    ]


def data_text(state: AvgState, model: str | None, fields: list[str]) -> str:
    """The model and fields of an entry by their labels: "Lid (Achternaam, E-mail)"."""
    from flask_avg.core.presenters import column_label

    if not model:
        return ""
    try:
        declared = state.registry.get(model)
    except (KeyError, LookupError):
        declared = None
    if declared is None:
        label = _names(state).get(model, model)
        return f"{label} ({', '.join(fields)})" if fields else label
    label = str(localise(declared.label))
    if not fields:
        return label
    return f"{label} ({', '.join(str(column_label(declared, f)) for f in fields)})"
