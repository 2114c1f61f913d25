"""A user by multi-table inheritance: ``Member`` extends a concrete ``Person``, so its primary key
is the ``person_ptr`` one-to-one link and a user spans two tables."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models


class Person(models.Model):
    display_name = models.CharField(max_length=100, blank=True)

    def __str__(self) -> str:
        return self.display_name or f"person {self.pk}"


class Member(Person, AbstractUser):
    objects = UserManager()

    def __str__(self) -> str:
        return self.get_username()
