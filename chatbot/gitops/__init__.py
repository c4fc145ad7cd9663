"""The git sink's workflow (``approved -> proposed -> applied``): batching approvals into pull
requests, tracking their state on the forge, and the pull request's text."""
