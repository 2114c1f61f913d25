"""A user model keyed by email, without an ``is_active`` column (AbstractBaseUser's is True)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models


class EmailUserManager(BaseUserManager):
    def create_user(self, email: str, password: str | None = None, **extra: Any) -> EmailUser:
        user = self.model(email=self.normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user


class EmailUser(AbstractBaseUser):
    email = models.EmailField(unique=True)

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"

    objects = EmailUserManager()

    def __str__(self) -> str:
        return self.email
