"""flask-avg: AVG (GDPR) compliance for Flask club and association websites."""

from .config import ConfigurationError
from .declarations import ModelPolicy, PersonalDataMixin, SubjectMixin, personal
from .extension import AVG, require
from .jinja import NavItem
from .retention_categories import RetentionCategory

__version__ = "0.1.0"

__all__ = [
    "AVG",
    "ConfigurationError",
    "ModelPolicy",
    "NavItem",
    "PersonalDataMixin",
    "RetentionCategory",
    "SubjectMixin",
    "personal",
    "require",
]
