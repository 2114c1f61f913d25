"""tokenauth under custom user models, one pytest process each: ``python -m tests.custom_user``.

``AUTH_USER_MODEL`` is fixed when Django starts, so each model has its own small app and settings
module: ``email_user`` (keyed by email, no ``is_active`` column), ``uuid_user`` (a UUID primary
key) and ``mti_user`` (multi-table inheritance: the primary key is a one-to-one parent link).
``test_custom_user.py`` runs for each of them; ``test_email_user.py`` for ``EmailUser`` alone.
"""
