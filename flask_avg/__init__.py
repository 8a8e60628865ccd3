"""flask-avg: AVG (GDPR) compliance for Flask club and association websites."""

from flask_avg.core.config import ConfigurationError
from flask_avg.core.crypto import Encrypted
from flask_avg.core.declarations import ModelPolicy, PersonalDataMixin, SubjectMixin, personal
from flask_avg.core.jinja import NavItem
from flask_avg.core.plugins import (
    EraseContext,
    Erased,
    ErasureRefused,
    ExportSection,
    ExternalContext,
    Hold,
    Plugin,
    PurgeContext,
    Refusal,
    SubjectContext,
)
from flask_avg.core.redirects import safe_redirect, safe_target
from flask_avg.core.retention_categories import RetentionCategory
from flask_avg.extension import AVG, require

__version__ = "0.1.0"

__all__ = [
    "AVG",
    "ConfigurationError",
    "Encrypted",
    "EraseContext",
    "Erased",
    "ErasureRefused",
    "ExportSection",
    "ExternalContext",
    "Hold",
    "ModelPolicy",
    "NavItem",
    "PersonalDataMixin",
    "Plugin",
    "PurgeContext",
    "Refusal",
    "RetentionCategory",
    "SubjectContext",
    "SubjectMixin",
    "personal",
    "require",
    "safe_redirect",
    "safe_target",
]
