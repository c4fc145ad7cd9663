"""Who approved which target of a ClientIntents, kept in the object itself (pure).

Each approval that added something gets its own annotation, keyed by its anomaly:
``flow-approval-chatbot/grant.<anomaly id>`` holds one JSON line with the approver (and the
other votes of a quorum), the time, the justification, the target the flow asked for, what
the merge really added (``added``) and anything the addition lifted (``replaced``: an HTTP
restriction an unrestricted approval removed). Annotations of other keys are never touched
by a merge, so a second approval on the same object keeps the first one's record, and a
revoke knows exactly what to take away.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chatbot.card import Card, Justification

MANAGER = "flow-approval-chatbot"
GRANT_PREFIX = f"{MANAGER}/grant."
MAX_WHY_CHARS = 300  # the full text is in the audit log; annotations are size-limited

Entry = dict[str, Any]
Document = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ApprovalNote:
    """Who approved which anomaly, and when: recorded in the object's annotations."""

    anomaly_id: str
    approved_by: str
    approved_at: datetime
    votes: tuple[str, ...] = ()
    """Every distinct approver when a quorum decided (the last of them is ``approved_by``)."""
    justification: str | None = None


@dataclass(frozen=True, slots=True)
class Grant:
    note: ApprovalNote
    target: Entry
    added: tuple[Entry, ...] = ()
    replaced: tuple[Entry, ...] = field(default=())


def approval_note(card: Card) -> ApprovalNote:
    """The note an applied (or to-be-applied) card's approval writes."""
    return ApprovalNote(anomaly_id=card.anomaly_id, approved_by=card.decided_by or "unknown",
                        approved_at=card.decided_at or card.last_seen,
                        votes=card.approvals if len(card.approvals) > 1 else (),
                        justification=_why(card.justifications))


def utc_stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def grant_key(anomaly_id: str) -> str:
    return f"{GRANT_PREFIX}{anomaly_id}"


def read_grants(document: Document) -> dict[str, Grant]:
    """The grants recorded on ``document``, by anomaly id; unreadable ones are skipped."""
    annotations = _annotations(document, create=False)
    found: dict[str, Grant] = {}
    for key, value in annotations.items():
        if isinstance(key, str) and key.startswith(GRANT_PREFIX) and isinstance(value, str):
            grant = _parse(key.removeprefix(GRANT_PREFIX), value)
            if grant is not None:
                found[grant.note.anomaly_id] = grant
    return found


def write_grant(document: Document, grant: Grant) -> None:
    note = grant.note
    record: dict[str, Any] = {"anomaly": note.anomaly_id, "by": note.approved_by,
                              "at": utc_stamp(note.approved_at)}
    if note.votes:
        record["votes"] = list(note.votes)
    if note.justification:
        record["why"] = note.justification[:MAX_WHY_CHARS]
    record["target"] = grant.target
    record["added"] = list(grant.added)
    if grant.replaced:
        record["replaced"] = list(grant.replaced)
    _annotations(document, create=True)[grant_key(note.anomaly_id)] = json.dumps(
        record, separators=(",", ":"), ensure_ascii=False)


def drop_grant(document: Document, anomaly_id: str) -> None:
    _annotations(document, create=False).pop(grant_key(anomaly_id), None)


def _parse(anomaly_id: str, value: str) -> Grant | None:
    try:
        record = json.loads(value)
        at = datetime.fromisoformat(str(record["at"]).replace("Z", "+00:00"))
        target = record["target"]
        added = record.get("added") or []
        replaced = record.get("replaced") or []
    except (ValueError, KeyError, TypeError):
        return None
    if not (isinstance(target, dict) and isinstance(added, list)
            and isinstance(replaced, list)):
        return None
    votes = record.get("votes") or []
    note = ApprovalNote(anomaly_id=anomaly_id, approved_by=str(record.get("by", "unknown")),
                        approved_at=at, votes=tuple(str(v) for v in votes),
                        justification=record.get("why"))
    return Grant(note=note, target=target,
                 added=tuple(e for e in added if isinstance(e, dict)),
                 replaced=tuple(e for e in replaced if isinstance(e, dict)))


def _annotations(document: Document, *, create: bool) -> dict[str, Any]:
    metadata = document.get("metadata")
    if not isinstance(metadata, dict):
        if not create:
            return {}
        metadata = document["metadata"] = {}
    annotations = metadata.get("annotations")
    if not isinstance(annotations, dict):
        if not create:
            return {}
        annotations = metadata["annotations"] = {}
    return annotations


def _why(justifications: tuple[Justification, ...]) -> str | None:
    given = [j for j in justifications if j.action == "approve"]
    if not given:
        return None
    if len(given) == 1:
        return given[0].text
    return " | ".join(f"{j.by}: {j.text}" for j in given)


def annotations_of(document: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = document.get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    return annotations if isinstance(annotations, dict) else {}
