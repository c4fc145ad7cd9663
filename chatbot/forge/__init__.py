"""Forge adapters for the git sink: pull requests on Gitea/Forgejo and GitHub, webhook
signatures, and a git working copy driven through the git CLI.

These are I/O adapters at the edge of the apply step (``approved -> proposed -> applied``):
they know nothing of anomalies, the store or Slack; the git sink composes them.
"""
