"""The multi-process proof: the example project under gunicorn, driven over real HTTP.

``tests/test_multiprocess.py`` runs it; the modules here are its server side (``settings``,
``wsgi``, ``server``), its database and Redis plumbing (``database``, ``users``,
``tcp_proxy``) and its clients (``client``, ``load``).
"""
