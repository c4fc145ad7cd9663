"""``chatbot check-config --explain EVENT.json``: which decision rule decides that event, and
why (the refusal of risky auto-approvals is
:func:`~chatbot.decision_rules.refuse_risky_auto_approvals`)."""

from __future__ import annotations

from pathlib import Path

from chatbot.card import target_label
from chatbot.config.rules import Rules
from chatbot.decision_rules import ruling
from chatbot.errors import BadEvent, ConfigError
from chatbot.events.parse import parse_event


def explain(path: Path, rules: Rules) -> str:
    """The deciding rule for the event in ``path`` (one schema-v1 JSON document), in words."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read event file {path}: {exc.strerror}") from exc
    try:
        event = parse_event(raw)
    except BadEvent as exc:
        raise ConfigError(f"{path} is not a valid flow event: {exc}") from exc
    decided = ruling(event, rules)
    lines = [f"event {event.event_id}: {event.client.namespace}/{event.client.name} → "
             f"{target_label(event.target)}", f"outcome: {decided.action}",
             f"deciding rule: {decided.rule.name if decided.rule else '(none)'}",
             f"why: {decided.why}"]
    lines += [f"risk: {risk}" for risk in decided.risks]
    lines += [f"skipped {line}" for line in decided.skipped]
    return "\n".join(lines)
