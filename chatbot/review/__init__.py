"""The local review page: the embedded stand-in for Slack, driving the same decision code."""

from chatbot.review.app import make_review_app

__all__ = ["make_review_app"]
