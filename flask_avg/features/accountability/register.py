"""The register of processing activities (Art. 30(1)), generated from the declarations.

What the code knows (purposes, data categories, legal bases, retention, declared
recipients) comes from the registry; what only the board knows (the club's
contact, other recipients, transfers outside the EU, security measures, the
categories of people per purpose) is stored in settings under ``register.*``.
The same data feeds the page, the Excel export and the processor agreement annex.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import current_app

from flask_avg.core.audit import current_actor
from flask_avg.core.declarations import LEGAL_BASES
from flask_avg.core.i18n import gettext as _
from flask_avg.core.i18n import lazy_gettext as _l
from flask_avg.core.i18n import localise
from flask_avg.core.presenters import retention_days

if TYPE_CHECKING:
    from flask_avg.extension import AvgState

#: Board-entered fields: key -> label. Stored as ``register.<key>`` settings.
BOARD_FIELDS: dict[str, Any] = {
    "controller": _l("Controller (name of the %(organisation)s)"),
    "contact": _l("Contact for privacy questions"),
    "representative": _l("Representative or data protection officer (if any)"),
    "people": _l("Categories of people (default for every purpose)"),
    "recipients": _l("Recipients (also outside the %(organisation)s)"),
    "transfers": _l("Transfers outside the EU and the safeguards"),
    "security": _l("Technical and organisational security measures"),
}


def default_fields() -> dict[str, str]:
    app = current_app
    return {
        "controller": str(app.config.get("AVG_CLUB_NAME") or ""),
        "contact": str(app.config.get("AVG_CLUB_CONTACT") or ""),
        "representative": "",
        "people": _("%(Subjects)s and former %(subjects)s"),
        "recipients": "",
        "transfers": _("None"),
        "security": _(
            "Personal data can only be reached after logging in; who may see or change what "
            "is set per group (least privilege). Every view, change, export and refused "
            "attempt is logged. Data is deleted automatically when its retention period ends."
        ),
    }


@dataclass
class RetentionLine:
    category: str
    label: Any
    days: int
    anchor: Any
    floor_reason: Any = None


@dataclass
class DataCategory:
    key: str
    label: Any
    special: bool
    fields: list[str] = field(default_factory=list)
    purposes: list[str] = field(default_factory=list)
    bases: list[Any] = field(default_factory=list)


@dataclass
class Activity:
    """One purpose of processing and everything Art. 30(1)(b)-(g) asks about it."""

    purpose: str
    people: str
    bases: list[Any] = field(default_factory=list)
    categories: list[DataCategory] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)
    retention: list[RetentionLine] = field(default_factory=list)

    @property
    def special(self) -> bool:
        return any(c.special for c in self.categories)


@dataclass
class Register:
    fields: dict[str, str]
    activities: list[Activity]
    categories: list[DataCategory]
    consent_purposes: list[Any]


def board_fields(state: AvgState) -> dict[str, str]:
    values = default_fields()
    for key in BOARD_FIELDS:
        stored = state.settings.get(f"register.{key}")
        if stored is not None:
            values[key] = str(stored)
    return values


def people_overrides(state: AvgState) -> dict[str, str]:
    return dict(state.settings.get("register.people_per_purpose", {}) or {})


def save_board_fields(
    state: AvgState,
    fields: dict[str, str],
    people: dict[str, str] | None = None,
    *,
    actor: str | None = None,
) -> list[str]:
    """Store what the board entered and commit; returns the names that changed.

    ``fields`` maps keys of :data:`BOARD_FIELDS` to text (keys left out stay as
    they are); ``people`` maps a purpose to the categories of people for it (empty
    text: the default; None leaves them as they are). Only changed values are
    written; when any changed, the save is audited as ``register.save``.
    """
    unknown = set(fields) - set(BOARD_FIELDS)
    if unknown:
        raise ValueError(f"unknown register field(s): {', '.join(sorted(unknown))}")
    actor = actor if actor is not None else current_actor()
    current = board_fields(state)
    changed = []
    for key in BOARD_FIELDS:
        if key not in fields:
            continue
        value = (fields[key] or "").strip()
        if value != current.get(key, ""):
            state.settings.set(f"register.{key}", value, actor=actor)
            changed.append(key)
    if people is not None:
        wanted = {purpose: text.strip() for purpose, text in people.items() if (text or "").strip()}
        if wanted != people_overrides(state):
            state.settings.set("register.people_per_purpose", wanted, actor=actor)
            changed.append("people_per_purpose")
    if changed:
        state.audit.record("register.save", fields=changed, actor=actor)
    state.db.session.commit()
    return changed


def export_excel(state: AvgState) -> bytes:
    """The register as an .xlsx workbook (:func:`to_excel`); audited as ``register.export``."""
    data = to_excel(build(state))
    state.audit.record("register.export", detail={"format": "xlsx"})
    state.db.session.commit()
    return data


def export_annex(state: AvgState) -> str:
    """The processor agreement annex as Markdown; audited as ``register.annex``."""
    from flask_avg.features.accountability import annex  # annex builds on this module

    text = annex.to_markdown(build(state))
    state.audit.record("register.annex", detail={"format": "md"})
    state.db.session.commit()
    return text


def no_purpose() -> str:
    return _("(no purpose declared)")


def build(state: AvgState) -> Register:
    """The register for the current app, in declaration order."""
    from flask_avg.features.consent import service as consent

    fields = board_fields(state)
    overrides = people_overrides(state)
    activities: dict[str, Activity] = {}
    categories: dict[str, DataCategory] = {}
    catalogue = state.catalogue
    for model in state.registry:
        for col_name, spec in model.columns.items():
            purpose = str(localise(spec.purpose)) if spec.purpose else no_purpose()
            act = activities.get(purpose)
            if act is None:
                act = Activity(purpose, overrides.get(purpose) or fields["people"])
                activities[purpose] = act
            cat = catalogue.categories[spec.category]
            basis = LEGAL_BASES.get(spec.basis) if spec.basis else None
            act_cat = _category(act.categories, cat)
            _add(act_cat.fields, _field_label(model, col_name))
            _add(act.bases, basis)
            _add(act.models, str(model.label))
            for recipient in spec.recipients:
                _add(act.recipients, str(localise(recipient)))
            overall = categories.get(cat.key)
            if overall is None:
                overall = categories[cat.key] = DataCategory(cat.key, cat.label, cat.special)
            _add(overall.fields, _field_label(model, col_name))
            _add(overall.purposes, purpose)
            _add(overall.bases, basis)
            if model.policy.retention and all(
                r.category != model.policy.retention for r in act.retention
            ):
                ret = catalogue.retention[model.policy.retention]
                act.retention.append(
                    RetentionLine(
                        ret.key,
                        ret.label,
                        retention_days(state, ret.key),
                        ret.anchor_label,
                        ret.floor_reason if ret.floor_days else None,
                    )
                )
    for act in activities.values():
        _add_all(act.recipients, fields["recipients"])
    return Register(
        fields=fields,
        activities=list(activities.values()),
        categories=list(categories.values()),
        consent_purposes=list(consent.purposes(state).values()),
    )


def _category(items: list[DataCategory], cat: Any) -> DataCategory:
    for item in items:
        if item.key == cat.key:
            return item
    item = DataCategory(cat.key, cat.label, cat.special)
    items.append(item)
    return item


def _field_label(model: Any, col_name: str) -> str:
    from flask_avg.core.presenters import column_label

    return f"{model.label}: {column_label(model, col_name)}"


def _add(items: list[Any], value: Any) -> None:
    if value is not None and value not in items:
        items.append(value)


def _add_all(items: list[str], text: str) -> None:
    for part in text.replace("\n", ",").split(","):
        if part.strip():
            _add(items, part.strip())


def retention_text(line: RetentionLine) -> str:
    text = _(
        "%(label)s: %(days)s days after the %(anchor)s",
        label=line.label,
        days=line.days,
        anchor=line.anchor,
    )
    return f"{text} ({line.floor_reason})" if line.floor_reason else text


def cell(value: Any) -> str:
    """Text for a spreadsheet or CSV cell; formulas are neutralised as in every export
    (:func:`flask_avg.features.export.safety.neutralise`)."""
    from flask_avg.features.export.safety import neutralise

    return neutralise("" if value is None else str(value))


def to_excel(reg: Register) -> bytes:
    """The register as an .xlsx workbook: one sheet for the controller, one per view."""
    import xlsxwriter  # imported here: only the export needs it

    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf, {"in_memory": True})
    bold = book.add_format({"bold": True, "text_wrap": True, "valign": "top"})
    wrap = book.add_format({"text_wrap": True, "valign": "top"})

    sheet = book.add_worksheet(_("Controller")[:31])
    sheet.set_column(0, 0, 40)
    sheet.set_column(1, 1, 80)
    for row, (key, label) in enumerate(BOARD_FIELDS.items()):
        sheet.write_string(row, 0, cell(label), bold)
        sheet.write_string(row, 1, cell(reg.fields.get(key, "")), wrap)

    sheet = book.add_worksheet(_("Processing activities")[:31])
    headers = [
        _("Purpose"),
        _("Legal basis"),
        _("Categories of people"),
        _("Categories of personal data"),
        _("Special categories"),
        _("Where stored"),
        _("Recipients"),
        _("Transfers outside the EU"),
        _("Retention"),
        _("Security measures"),
    ]
    _table(sheet, headers, bold, wrap, [_activity_row(reg, act) for act in reg.activities])

    sheet = book.add_worksheet(_("Data categories")[:31])
    rows = [
        [
            str(cat.label),
            _("yes") if cat.special else _("no"),
            "; ".join(cat.purposes),
            "; ".join(str(b) for b in cat.bases),
            "; ".join(cat.fields),
        ]
        for cat in reg.categories
    ]
    headers = [_("Category"), _("Special category"), _("Purposes"), _("Legal basis"), _("Fields")]
    _table(sheet, headers, bold, wrap, rows)

    if reg.consent_purposes:
        sheet = book.add_worksheet(_("Consent purposes")[:31])
        rows = [[str(p.label), p.key, p.version, str(p.text)] for p in reg.consent_purposes]
        _table(sheet, [_("Purpose"), _("Key"), _("Version"), _("Text")], bold, wrap, rows)
    book.close()
    return buf.getvalue()


def _activity_row(reg: Register, act: Activity) -> list[str]:
    return [
        act.purpose,
        "; ".join(str(b) for b in act.bases),
        act.people,
        "; ".join(str(c.label) for c in act.categories),
        "; ".join(str(c.label) for c in act.categories if c.special) or _("none"),
        "; ".join(act.models),
        "; ".join(act.recipients) or _("nobody outside the %(organisation)s"),
        reg.fields.get("transfers", ""),
        "; ".join(retention_text(r) for r in act.retention) or _("no automatic deletion"),
        reg.fields.get("security", ""),
    ]


def _table(sheet: Any, headers: list[str], bold: Any, wrap: Any, rows: list[list[str]]) -> None:
    for col, header in enumerate(headers):
        sheet.write_string(0, col, cell(header), bold)
        sheet.set_column(col, col, 30)
    for r, values in enumerate(rows, start=1):
        for col, value in enumerate(values):
            sheet.write_string(r, col, cell(value), wrap)
    sheet.freeze_panes(1, 0)
