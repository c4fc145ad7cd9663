"""The project's test bench: real Kafka, kube-apiserver + etcd, PostgreSQL, Redis and a Slack
Web API stand-in, installed into a cache outside the repository and started on loopback.

Each component module exposes ``install()`` (idempotent, cached) and ``start(workdir)``
returning a handle with the connection settings and a ``stop()``. The pytest fixtures in
``tests/conftest.py`` and the ``python -m testbench`` command both build on them.
"""
