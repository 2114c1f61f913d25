"""tests.urls plus the simplejwt contrib: its exchange URL, and a view that lists the transition
class before tokenauth's, as a project's DEFAULT_AUTHENTICATION_CLASSES would during the move
(DRF binds a view's classes when the view is defined, so overriding the setting would not do)."""

from __future__ import annotations

from django.urls import include, path

from tests.urls import MeView
from tests.urls import urlpatterns as base_urlpatterns
from tokenauth.authentication import AccessTokenAuthentication
from tokenauth.contrib.simplejwt.authentication import SimpleJWTTransitionAuthentication


class TransitionMeView(MeView):
    authentication_classes = [SimpleJWTTransitionAuthentication, AccessTokenAuthentication]


urlpatterns = [
    *base_urlpatterns,
    path("auth/", include("tokenauth.contrib.simplejwt.urls")),
    path("api/transition/me/", TransitionMeView.as_view()),
]
