"""What a host writes on its own models to tell flask-avg where personal data lives.

The host keeps its tables. It marks them:

* the *subject* model (the member) with :class:`SubjectMixin`;
* every other model holding data about a subject with :class:`PersonalDataMixin`
  (plain association tables get ``info={"avg": ModelPolicy(...)}`` instead);
* each personal column with ``info=personal(...)`` on the column itself;
* per model, a :class:`ModelPolicy` in ``__avg__``: the retention category, the
  date column retention counts from, and defaults for purpose and legal basis.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from flask_avg.core.i18n import lazy_gettext as _l

INFO_KEY = "avg"

#: Art. 6(1) legal bases, by the key used in declarations.
LEGAL_BASES: dict[str, Any] = {
    "consent": _l("Consent (Art. 6(1)(a))"),
    "contract": _l("Performance of a contract, e.g. the membership (Art. 6(1)(b))"),
    "legal_obligation": _l("Legal obligation (Art. 6(1)(c))"),
    "vital_interests": _l("Vital interests (Art. 6(1)(d))"),
    "public_task": _l("Public task (Art. 6(1)(e))"),
    "legitimate_interest": _l("Legitimate interest (Art. 6(1)(f))"),
}


@dataclass(frozen=True)
class Category:
    """A kind of personal data. ``special`` marks Art. 9 data (health, religion, ...)."""

    key: str
    label: Any
    special: bool = False


#: Built-in data categories; hosts add their own with ``AVG.add_category``.
CATEGORIES: dict[str, Category] = {
    c.key: c
    for c in (
        Category("identity", _l("Identity")),
        Category("contact", _l("Contact details")),
        Category("address", _l("Address")),
        Category("membership", _l("Membership")),
        Category("financial", _l("Financial")),
        Category("account", _l("Login account")),
        Category("activity", _l("Activities and sign-ups")),
        Category("communication", _l("Communication")),
        Category("media", _l("Photos and media")),
        Category("notes", _l("Notes")),
        Category("national_id", _l("National identification number (BSN)"), special=True),
        Category("health", _l("Health"), special=True),
        Category("religion", _l("Religion or belief"), special=True),
        Category("ethnicity", _l("Racial or ethnic origin"), special=True),
        Category("criminal", _l("Criminal records"), special=True),
    )
}

#: Names of anonymisers understood by the erasure engine; a callable works too.
ANONYMISERS = ("auto", "null", "mask", "email", "fixed", "keep", "hash")


@dataclass(frozen=True)
class Personal:
    """Personal-data metadata for one column; build it with :func:`personal`."""

    category: str
    purpose: Any = None
    basis: str | None = None
    editable: bool = False
    export: bool = True
    secret: bool = False
    anonymise: str | Callable[..., Any] = "auto"
    anonymise_value: Any = None
    label: Any = None
    recipients: tuple[Any, ...] = ()
    #: on a row shared by several members (``ModelPolicy(shared="keep")``): the
    #: foreign-key column of the member this value belongs to
    party: str | None = None
    #: stored encrypted (the column's type is :class:`flask_avg.core.crypto.Encrypted`)
    encrypted: bool = False
    #: Art. 9 special category; filled in from the category when the registry is built.
    special: bool = False


def personal(
    category: str,
    *,
    purpose: Any = None,
    basis: str | None = None,
    editable: bool = False,
    export: bool | None = None,
    secret: bool = False,
    anonymise: str | Callable[..., Any] = "auto",
    anonymise_value: Any = None,
    label: Any = None,
    recipients: tuple[Any, ...] | list[Any] = (),
    party: str | None = None,
    encrypted: bool = False,
    **extra_info: Any,
) -> dict[str, Any]:
    """Mark a column as personal data: ``db.Column(..., info=personal("contact"))``.

    ``purpose`` and ``basis`` default to the model's :class:`ModelPolicy`.
    Texts (``purpose``, ``label``, ``recipients``) may be plain strings, lazy
    strings from the host's catalogue, or ``{"nl": ..., "en": ...}``.
    ``secret=True`` (passwords, tokens) means never shown and never exported.
    ``editable`` is the default for whether a member may correct the value
    themselves; the board can change it per field. ``anonymise`` picks how
    the erasure engine blanks the value (``"auto"`` chooses by column type).
    ``party`` names the foreign-key column of the member the value belongs to
    on a row shared by several members (``ModelPolicy(shared="keep")``): it is
    blanked when that member is erased and the row is kept for the others.
    ``encrypted=True`` says the value is stored encrypted; the column's type must
    then be :class:`flask_avg.Encrypted` (``init_app`` checks both agree).
    Other keyword arguments stay in ``info`` for the host's own use.
    """
    spec = Personal(
        category=category,
        purpose=purpose,
        basis=basis,
        editable=editable,
        export=(not secret) if export is None else export,
        secret=secret,
        anonymise=anonymise,
        anonymise_value=anonymise_value,
        label=label,
        recipients=tuple(recipients),
        party=party,
        encrypted=encrypted,
    )
    return {INFO_KEY: spec, **extra_info}


@dataclass(frozen=True)
class ModelPolicy:
    """Per-model declaration, set as ``__avg__ = ModelPolicy(...)`` on the model.

    * ``retention``: retention category key (``"members"``, ``"invoices"``, ...).
    * ``anchor``: name of the date column retention counts from (for members
      the end-of-membership date; a NULL anchor means "still current").
    * ``purpose`` / ``basis`` / ``recipients``: defaults for the model's columns.
    * ``via``: which foreign-key paths to the subject to follow when there is
      more than one: a column, relationship or table the path goes through, a
      tuple of them (each picks its paths; a row belongs to the owners along
      any of them) or ``"all"``.
    * ``erase``: ``"delete"`` the rows or ``"anonymise"`` them.
    * ``shared``: what erasing one member does to a row that also belongs to
      another member who stays (a message's recipient when its sender is
      erased): ``"delete"`` (the default: the row goes, or is anonymised, for
      everyone) or ``"keep"`` (the row stays for the others; the erased
      member's link becomes NULL and their ``personal(party=...)`` columns
      are blanked).
    * ``label``: a readable (translatable) name for pages and exports.
    * ``birth_date``: on the subject model, the name of the date column holding the
      person's date of birth: below ``AVG_AGE_OF_CONSENT`` a guardian gives consent.
    * ``columns``: ``{"name": personal(...)}`` for columns the host cannot put
      ``info=`` on (inherited from a library's mixin, say).
    """

    retention: str | None = None
    anchor: str | None = None
    purpose: Any = None
    basis: str | None = None
    recipients: tuple[Any, ...] = ()
    via: str | tuple[str, ...] = ()
    erase: str = "delete"
    shared: str = "delete"
    label: Any = None
    columns: dict[str, dict[str, Any]] = field(default_factory=dict, hash=False)
    birth_date: str | None = None

    @property
    def routes(self) -> tuple[str, ...]:
        """``via`` as a tuple (a single name may be given as a string)."""
        return (self.via,) if isinstance(self.via, str) else tuple(self.via)

    def with_defaults(self, spec: Personal) -> Personal:
        """The column spec with this model's purpose/basis/recipients filled in."""
        return replace(
            spec,
            purpose=spec.purpose or self.purpose,
            basis=spec.basis or self.basis,
            recipients=spec.recipients or self.recipients,
        )


class PersonalDataMixin:
    """Marks a model whose rows hold personal data about a subject.

    It adds no columns; flask-avg finds the path to the subject through
    the model's foreign keys.
    """

    __avg__: ModelPolicy = ModelPolicy()


class SubjectMixin(PersonalDataMixin):
    """Marks the data-subject model (the member). Exactly one model has it."""

    @property
    def avg_subject_id(self) -> Any:
        """The primary-key value flask-avg uses to refer to this subject."""
        from sqlalchemy import inspect

        identity = inspect(self).identity
        return identity[0] if identity else None
