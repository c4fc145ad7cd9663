"""Packaging glue pyproject.toml cannot express: the top-level ``migrations/`` directory (the
layout the project is built to) ships inside the wheel as the package ``chatbot_migrations``,
so ``pip install .`` can migrate without a source checkout."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["chatbot*", "handlers*"], exclude=["chatbot_migrations*"]),
              "chatbot_migrations", "chatbot_migrations.versions"],
    package_dir={"chatbot_migrations": "migrations"},
    package_data={"chatbot_migrations": ["script.py.mako"]},
)
