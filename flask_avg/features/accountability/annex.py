"""The data annex of a processor agreement (verwerkersovereenkomst, seed 004 annex 1).

Which categories of personal data and of people the processor handles, for
which purposes and how long: built from the same data as the register, as a
printable HTML page or a Markdown file the board attaches to the agreement.
"""

from __future__ import annotations

from flask_avg.core.i18n import gettext as _
from flask_avg.features.accountability.register import Register, retention_text


def _md(value: object) -> str:
    """One Markdown table cell: no line breaks, pipes and markup characters escaped."""
    text = " ".join(str(value).split())
    for char in "\\|*_`[]<>#":
        text = text.replace(char, "\\" + char)
    return text


def to_markdown(reg: Register) -> str:
    lines = [
        f"# {_('Annex: personal data processed')}",
        "",
        _("Controller: %(name)s", name=_md(reg.fields.get("controller") or "–")),
        "",
        _("Contact: %(contact)s", contact=_md(reg.fields.get("contact") or "–")),
        "",
        f"## {_('Categories of people')}",
        "",
        _md(reg.fields.get("people", "")),
        "",
        f"## {_('Categories of personal data')}",
        "",
        f"| {_('Category')} | {_('Special category')} | {_('Fields')} |",
        "| --- | --- | --- |",
    ]
    for cat in reg.categories:
        special = _("yes") if cat.special else _("no")
        lines.append(f"| {_md(cat.label)} | {special} | {_md('; '.join(cat.fields))} |")
    lines += [
        "",
        f"## {_('Purposes')}",
        "",
        f"| {_('Purpose')} | {_('Legal basis')} | {_('Categories of personal data')} "
        f"| {_('Retention')} |",
        "| --- | --- | --- | --- |",
    ]
    for act in reg.activities:
        bases = "; ".join(str(b) for b in act.bases)
        cats = "; ".join(str(c.label) for c in act.categories)
        kept = "; ".join(retention_text(r) for r in act.retention) or _("no automatic deletion")
        lines.append(f"| {_md(act.purpose)} | {_md(bases)} | {_md(cats)} | {_md(kept)} |")
    for purpose in reg.consent_purposes:
        lines.append(
            f"| {_md(purpose.label)} | {_md(_('Consent (Art. 6(1)(a))'))} | – | "
            f"{_md(_('until consent is withdrawn'))} |"
        )
    lines += [
        "",
        f"## {_('Transfers outside the EU')}",
        "",
        _md(reg.fields.get("transfers", "")),
        "",
    ]
    return "\n".join(lines)
