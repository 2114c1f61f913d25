"""A user whose primary key is a UUID: ``sub`` is its text, the lazy user's pk a ``UUID``."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models


class UUIDUser(AbstractUser):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
