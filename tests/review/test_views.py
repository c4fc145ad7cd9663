"""The review page's view of a card: the same facts and buttons as the Slack message."""

from __future__ import annotations

from chatbot.lifecycle import State
from chatbot.review.views import card_view
from tests.slack.test_blocks import T0, card


def test_a_card_covered_elsewhere_shows_its_state_and_the_intents_and_offers_nothing() -> None:
    view = card_view(card(state=State.COVERED, covered_by="rps/web-by-hand", decided_at=T0))
    assert view["state"] == "covered" and view["covered_by"] == "rps/web-by-hand"
    assert view["open"] is False and view["allowed_actions"] == [] and view["actions"] == []
    assert card_view(card())["covered_by"] is None
