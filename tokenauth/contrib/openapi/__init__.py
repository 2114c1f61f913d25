"""drf-spectacular extensions for tokenauth's endpoints and its authentication class.

Importing this package registers them with drf-spectacular; ``TokenAuthConfig.ready()`` does it
whenever drf-spectacular is installed, so a project adds nothing to its settings for them.
"""

from __future__ import annotations

import importlib.util

# Defining an extension class registers it with drf-spectacular.
from tokenauth.contrib.openapi import authentication, views  # noqa: F401

if importlib.util.find_spec("rest_framework_simplejwt") is not None:
    from tokenauth.contrib.openapi import simplejwt  # noqa: F401
