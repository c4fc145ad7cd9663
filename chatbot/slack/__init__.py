"""Slack: Block Kit rendering, the outbox that posts and updates messages, and the bolt app."""
