"""The example project's URLs with its OpenAPI schema at ``/api/schema/``, which
``example_project.urls`` adds only when drf-spectacular is in ``INSTALLED_APPS`` (it is not in
the tests' settings: the schema view needs only its ``AutoSchema``)."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from example_project import settings as example
from example_project.urls import urlpatterns as example_urlpatterns

# drf-spectacular reads SPECTACULAR_SETTINGS once, at import: the view patches them in (all
# but SERVE_INCLUDE_SCHEMA, which it refuses there).
_patched = {k: v for k, v in example.SPECTACULAR_SETTINGS.items() if k != "SERVE_INCLUDE_SCHEMA"}
schema_view = SpectacularAPIView.as_view(custom_settings=_patched)

urlpatterns = [path("api/schema/", schema_view), *example_urlpatterns]
