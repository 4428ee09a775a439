"""The HTTP service of ``cradle serve``: a JSON API for detection and conversation monitoring,
and the clinicians' review page, in one FastAPI application (see :func:`create_app`)."""

from cradle.interfaces.service.api import ServiceLimits
from cradle.interfaces.service.app import create_app, default_db_path
from cradle.interfaces.service.auth import AuthConfigError, check_bind, is_loopback

__all__ = ["AuthConfigError", "ServiceLimits", "check_bind", "create_app", "default_db_path", "is_loopback"]
