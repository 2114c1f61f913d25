"""The exchange URL, mounted beside ``tokenauth.urls``:
``path("auth/", include("tokenauth.contrib.simplejwt.urls"))``."""

from __future__ import annotations

from django.urls import path

from tokenauth.contrib.simplejwt import views

app_name = "tokenauth_simplejwt"

urlpatterns = [
    path("simplejwt/exchange/", views.SimpleJWTExchangeView.as_view(), name="exchange"),
]
