"""A drf-spectacular postprocessing hook: the 401 of the project's own views that take an access
token, which drf-spectacular leaves out of their operations.

Listed in ``SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]`` after drf-spectacular's own::

    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "tokenauth.contrib.openapi.hooks.document_unauthorized",
    ]
"""

from __future__ import annotations

import copy
from typing import Any

from tokenauth.contrib.openapi.authentication import security_schemes

__all__ = ["document_unauthorized"]

_DETAIL = {
    "type": "object",
    "description": "Django REST framework's error body.",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
_UNAUTHORIZED = {
    "description": "No access token, or one that is invalid, expired or revoked; "
    "`WWW-Authenticate` says which.",
    "headers": {
        "WWW-Authenticate": {
            "schema": {"type": "string"},
            "description": 'RFC 6750 §3: `Bearer realm="api"`, plus `error="invalid_token"` '
            "and an `error_description` when a token was sent.",
            "required": True,
        }
    },
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TokenauthDetail"}}},
}


def document_unauthorized(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Add a 401 to every operation whose security names tokenauth's schemes and that documents
    no 401 of its own: a view that allows anonymous requests too still refuses a bad token."""
    ours = set(security_schemes())
    added = False
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            requirements = operation.get("security", []) if isinstance(operation, dict) else []
            if any(ours & set(requirement) for requirement in requirements):
                responses = operation.setdefault("responses", {})
                if "401" not in responses:
                    responses["401"] = copy.deepcopy(_UNAUTHORIZED)
                    added = True
    if added:
        schemas = result.setdefault("components", {}).setdefault("schemas", {})
        schemas.setdefault("TokenauthDetail", copy.deepcopy(_DETAIL))
    return result
