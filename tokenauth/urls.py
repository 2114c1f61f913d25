"""URLs, mounted by the project under a prefix of its choice: ``path("auth/", include(...))``."""

from __future__ import annotations

from django.urls import path

from tokenauth import views

__all__ = ["app_name", "urlpatterns"]

app_name = "tokenauth"

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("refresh/", views.RefreshView.as_view(), name="refresh"),
    path("token/", views.TokenView.as_view(), name="token"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("logout-all/", views.LogoutAllView.as_view(), name="logout-all"),
    path("revoke/", views.RevokeView.as_view(), name="revoke"),
    path("sessions/", views.SessionListView.as_view(), name="sessions"),
    path("sessions/<str:family_public_id>/", views.SessionDetailView.as_view(), name="session"),
    path("jwks.json", views.JWKSView.as_view(), name="jwks"),
]
