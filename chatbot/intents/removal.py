"""Revoking one approval from a ClientIntents document, pure: the counterpart of
:func:`~chatbot.intents.document.merge`.

The approval's grant annotation (provenance.py) says what its merge added. That — and only
that — is taken away, down to the single HTTP method, Kafka operation or internet address;
whatever the merge lifted (an HTTP restriction) is put back; everything anyone else wrote
stays where it is. Other approvals of the same workload that are still in force are passed
in as ``keep``: a part they need stays, and their grant now records it, so revoking one
approval never silently takes another's access and a later revoke of theirs still removes it.

Targets are compared as *atoms* — (target identity, path, method), (identity, topic,
operation), (internet ports, domain or IP) — and an entry whose last atom goes is removed
whole, because an empty ``http``/``topics`` list would mean "everything".
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chatbot.events.model import Workload
from chatbot.intents.document import (
    ANOMALY_IDS,
    APPROVED_AT,
    APPROVED_BY,
    Document,
    Entry,
    add_entry,
    target_identity,
)
from chatbot.intents.provenance import (
    ApprovalNote,
    Grant,
    drop_grant,
    read_grants,
    utc_stamp,
    write_grant,
)

Atom = tuple[Any, ...]
ANY = "*"
# (list key, item name key, item values key) of the restricted parts of an entry
_PARTS = {"kafka": ("topics", "name", "operations")}
_CALLS = ("http", "path", "methods")


@dataclass(frozen=True, slots=True)
class Keep:
    """Another approval of the same workload that is still in force."""

    anomaly_id: str
    entry: Entry
    note: ApprovalNote


@dataclass(frozen=True, slots=True)
class Removal:
    document: Document
    changed: bool
    recorded: bool
    """The object carried this approval's grant; False: the bot added nothing for it here."""
    removed: tuple[Entry, ...] = ()
    kept_for: tuple[str, ...] = ()
    """Other approvals that still need part of what was added (it stays, now theirs)."""
    still_allowed: bool = False
    """The flow is still allowed afterwards, by targets this approval did not add."""


def remove(document: Document, *, client: Workload, anomaly_id: str, entry: Entry,
           keep: Sequence[Keep] = ()) -> Removal:
    namespace = client.namespace
    grant = read_grants(document).get(anomaly_id)
    if grant is None:
        return Removal(document, changed=False, recorded=False,
                       still_allowed=_allows(_targets(document), entry, namespace))
    result = copy.deepcopy(document)
    targets = _targets(result, create=True)
    restored = _restore(targets, grant.replaced, namespace)
    for added in grant.added:
        for atom in entry_atoms(added, namespace):
            if atom[3:] == (ANY,) and atom[:3] in restored:
                continue  # put back as the restriction it lifted, in place
            remove_atom(targets, atom, namespace)
    kept_for = _keep(result, targets, anomaly_id, keep, namespace)
    drop_grant(result, anomaly_id)
    _forget(result, grant)
    return Removal(result, changed=result != document, recorded=True, removed=grant.added,
                   kept_for=tuple(kept_for),
                   still_allowed=_allows(targets, entry, namespace))


def entry_atoms(entry: Entry, namespace: str) -> set[Atom]:
    """The smallest pieces of access ``entry`` allows."""
    if not isinstance(entry, dict) or len(entry) != 1:
        return set()
    ((key, body),) = entry.items()
    if not isinstance(body, dict):
        return set()
    if key == "internet":
        ports = _ports(body)
        return {("internet", ports, None, field, value)
                for field in ("domains", "ips") for value in body.get(field) or ()}
    identity = target_identity(entry, namespace)
    if identity is None:
        return set()
    list_key, name_key, values_key = _PARTS.get(identity[0], _CALLS)
    parts = body.get(list_key)
    if not parts:
        return {(*identity, ANY)}
    atoms: set[Atom] = set()
    for part in parts:
        if not isinstance(part, dict) or not isinstance(part.get(name_key), str):
            continue
        values = part.get(values_key) or [ANY]
        atoms.update((*identity, part[name_key], value) for value in values)
    return atoms


def remove_atom(targets: list[Any], atom: Atom, namespace: str) -> bool:
    """Take one atom out of ``targets`` in place; False when no entry holds it."""
    if atom[0] == "internet":
        return _remove_internet(targets, atom)
    identity, rest = atom[:3], atom[3:]
    for index, item in enumerate(targets):
        if target_identity(item, namespace) != identity:
            continue
        body = next(iter(item.values()))
        list_key, name_key, values_key = _PARTS.get(identity[0], _CALLS)
        parts = body.get(list_key)
        if rest == (ANY,):
            if not parts:
                del targets[index]
                return True
            continue
        name, value = rest
        for position, part in enumerate(parts or ()):
            if not isinstance(part, dict) or part.get(name_key) != name:
                continue
            values = part.get(values_key) or []
            if value == ANY and not values:
                del parts[position]
            elif value != ANY and value in values:
                part[values_key] = [v for v in values if v != value]
                if not part[values_key]:
                    del parts[position]  # an empty list would allow every value
            else:
                continue
            if not parts:
                del targets[index]  # an empty list would allow every call
            return True
    return False


def _remove_internet(targets: list[Any], atom: Atom) -> bool:
    _, ports, _, field, value = atom
    for index, item in enumerate(targets):
        body = item.get("internet") if isinstance(item, dict) else None
        if not isinstance(body, dict) or _ports(body) != ports:
            continue
        values = body.get(field) or []
        if value not in values:
            continue
        remaining = [v for v in values if v != value]
        if remaining:
            body[field] = remaining
        else:
            body.pop(field, None)
        if not body.get("domains") and not body.get("ips"):
            del targets[index]
        return True
    return False


def _restore(targets: list[Any], replaced: tuple[Entry, ...],
             namespace: str) -> set[tuple[Any, ...]]:
    """Put back the HTTP restrictions an unrestricted approval lifted; their identities."""
    restored: set[tuple[Any, ...]] = set()
    for entry in replaced:
        identity = target_identity(entry, namespace)
        calls = next(iter(entry.values())).get("http") if identity else None
        if identity is None or not calls:
            continue
        for item in targets:
            body = next(iter(item.values())) if isinstance(item, dict) and item else None
            if target_identity(item, namespace) == identity and isinstance(body, dict) \
                    and not body.get("http"):
                body["http"] = copy.deepcopy(calls)
                restored.add(identity)
                break
    return restored


def _keep(document: Document, targets: list[Any], anomaly_id: str, keep: Sequence[Keep],
          namespace: str) -> list[str]:
    """Re-add what other approvals in force still need, and record it as theirs."""
    grants = read_grants(document)
    kept_for = []
    for other in keep:
        if other.anomaly_id == anomaly_id:
            continue
        delta = add_entry(targets, copy.deepcopy(other.entry), namespace)
        if delta is None:
            continue
        kept_for.append(other.anomaly_id)
        had = grants.get(other.anomaly_id)
        write_grant(document, Grant(
            note=had.note if had else other.note, target=copy.deepcopy(other.entry),
            added=(*(had.added if had else ()), delta.added),
            replaced=(*(had.replaced if had else ()),
                      *((delta.replaced,) if delta.replaced else ()))))
    return kept_for


def _forget(document: Document, grant: Grant) -> None:
    """The object-wide annotations no longer name the revoked approval."""
    annotations = document.get("metadata", {}).get("annotations")
    if not isinstance(annotations, dict):
        return
    ids = [i for i in str(annotations.get(ANOMALY_IDS, "")).split(",")
           if i and i != grant.note.anomaly_id]
    if ids:
        annotations[ANOMALY_IDS] = ",".join(ids)
    else:
        annotations.pop(ANOMALY_IDS, None)
    if annotations.get(APPROVED_BY) == grant.note.approved_by and \
            annotations.get(APPROVED_AT) == utc_stamp(grant.note.approved_at):
        newest = max(read_grants(document).values(), key=lambda g: g.note.approved_at,
                     default=None)
        if newest is None:
            annotations.pop(APPROVED_BY, None)
            annotations.pop(APPROVED_AT, None)
        else:
            annotations[APPROVED_BY] = newest.note.approved_by
            annotations[APPROVED_AT] = utc_stamp(newest.note.approved_at)


def _allows(targets: list[Any], entry: Entry, namespace: str) -> bool:
    return add_entry(copy.deepcopy(targets), copy.deepcopy(entry), namespace) is None


def _targets(document: Document, *, create: bool = False) -> list[Any]:
    spec = document.get("spec")
    if not isinstance(spec, dict):
        if not create:
            return []
        spec = document["spec"] = {}
    targets = spec.get("targets")
    if not isinstance(targets, list):
        if not create:
            return []
        targets = spec["targets"] = []
    return targets


def _ports(body: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted(body.get("ports") or ()))
