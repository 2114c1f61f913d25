"""Moving over from djangorestframework-simplejwt without logging anyone out (DESIGN §10).

Needed only while the move lasts: it is the one place in tokenauth that imports simplejwt.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

try:
    import rest_framework_simplejwt  # noqa: F401  # only whether it is there
except ImportError as exc:
    raise ImproperlyConfigured(
        "tokenauth.contrib.simplejwt needs djangorestframework-simplejwt while the move from "
        "simplejwt lasts: pip install djangorestframework-simplejwt, or, once the move is over, "
        "remove SimpleJWTTransitionAuthentication and the tokenauth.contrib.simplejwt.urls "
        "include from your project."
    ) from exc
