"""The bot's NetworkPolicy documents, pure: one per workload per direction under a deterministic
name, labelled as ours, each rule's approval recorded in an annotation, and a grant merged in
without narrowing anything the policy already allows.

The sinks read the current policy, call :func:`merge` and write ``Merge.document`` back only
when ``Merge.changed``. A policy that is not labelled as ours is never merged into.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from chatbot.errors import PermanentError
from chatbot.intents.document import MANAGED_BY_LABEL, MANAGER, ApprovalNote, Merge
from chatbot.intents.networkpolicy.podset import NAMESPACE_NAME_LABEL, PodSet, normal_selector
from chatbot.intents.networkpolicy.rules import Direction, Grant

GROUP = "networking.k8s.io"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "NetworkPolicy"
PLURAL = "networkpolicies"
SELECTS = f"{MANAGER}/selects"
APPROVALS = f"{MANAGER}/approvals"
MAX_APPROVALS_CHARS = 32 * 1024
MAX_NAME = 253

Policy = dict[str, Any]
"""A whole NetworkPolicy object, as the apiserver or a YAML file holds it."""


@dataclass(frozen=True, slots=True)
class Dns:
    """Where the client's pods resolve names: one egress rule per client policy keeps it open,
    because the first egress policy on a pod otherwise cuts its DNS."""

    namespace: str = "kube-system"
    labels: tuple[tuple[str, str], ...] = (("k8s-app", "kube-dns"),)
    port: int = 53

    def rule(self) -> dict[str, Any]:
        return {
            "to": [{"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: self.namespace}},
                    "podSelector": {"matchLabels": dict(self.labels)}}],
            "ports": [{"protocol": "UDP", "port": self.port},
                      {"protocol": "TCP", "port": self.port}],
        }


DNS = Dns()


def policy_name(pods: PodSet, direction: Direction) -> str:
    """``<name>-<kind>-<direction>``: readable, and distinct for a Deployment and a StatefulSet
    of the same name. Too long for a name, it keeps a hash of the whole so it stays unique."""
    name = f"{pods.name}-{pods.kind.lower()}-{direction}"
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"{name[: MAX_NAME - len(digest) - len(direction) - 2]}-{digest}-{direction}"


def is_ours(policy: Policy) -> bool:
    labels = (policy.get("metadata") or {}).get("labels") or {}
    return bool(labels.get(MANAGED_BY_LABEL) == MANAGER)


def merge(existing: Policy | None, grant: Grant, note: ApprovalNote, *,
          dns: Dns = DNS) -> Merge:
    name = policy_name(grant.pods, grant.direction)
    if existing is None:
        policy = _new_policy(name, grant, dns)
        _record(policy, grant, note)
        return Merge(policy, changed=True)
    if not is_ours(existing):
        raise PermanentError(
            f"NetworkPolicy {grant.pods.namespace}/{name} exists but was not written by "
            f"{MANAGER} (no {MANAGED_BY_LABEL}={MANAGER} label); it is left untouched. "
            "Rename or remove it, or label it if the bot may manage it.")
    policy = copy.deepcopy(existing)
    spec = policy.setdefault("spec", {})
    changed = False
    wanted = normal_selector(grant.pods.selector)
    if normal_selector(spec.get("podSelector") or {}) != wanted:
        # The workload's selector moved (a Service's may): the policy follows its workload.
        spec["podSelector"] = wanted
        changed = True
    types = spec.setdefault("policyTypes", [])
    if _type(grant.direction) not in types:
        types.append(_type(grant.direction))
        changed = True
    rules = spec.get(grant.direction)
    if not isinstance(rules, list):
        rules = spec[grant.direction] = []
    if grant.direction == "egress" and dns.rule() not in rules:
        rules.insert(0, dns.rule())
        changed = True
    changed |= _add(rules, grant)
    if changed:
        _record(policy, grant, note)
    return Merge(policy, changed=changed)


def policy_types(policy: Policy) -> list[str]:
    """What the policy isolates, with the apiserver's default for a missing policyTypes."""
    spec = policy.get("spec") or {}
    types = spec.get("policyTypes")
    if types:
        return list(types)
    return ["Ingress", *(["Egress"] if spec.get("egress") else [])]


def approvals(policy: Policy) -> list[dict[str, str]]:
    """The recorded approvals, oldest first: ``{"rule", "anomaly", "by", "at"}`` each."""
    text = ((policy.get("metadata") or {}).get("annotations") or {}).get(APPROVALS) or ""
    found = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a hand-edited line: keep going, it is provenance, not policy
        if isinstance(entry, dict):
            found.append({str(key): str(value) for key, value in entry.items()})
    return found


def _new_policy(name: str, grant: Grant, dns: Dns) -> Policy:
    rules = [_rule(grant)]
    if grant.direction == "egress":
        rules.insert(0, dns.rule())
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": name,
            "namespace": grant.pods.namespace,
            "labels": {MANAGED_BY_LABEL: MANAGER},
            "annotations": {SELECTS: f"{grant.pods.kind} {grant.pods.name}"},
        },
        "spec": {
            "podSelector": normal_selector(grant.pods.selector),
            "policyTypes": [_type(grant.direction)],
            grant.direction: rules,
        },
    }


def _type(direction: Direction) -> str:
    return "Ingress" if direction == "ingress" else "Egress"


def _peer_key(direction: Direction) -> str:
    return "from" if direction == "ingress" else "to"


def _rule(grant: Grant) -> dict[str, Any]:
    rule: dict[str, Any] = {_peer_key(grant.direction): [copy.deepcopy(grant.peer)]}
    if grant.ports:
        rule["ports"] = [dict(port) for port in grant.ports]
    return rule


def _add(rules: list[Any], grant: Grant) -> bool:
    """Add the grant to the rule with exactly its peer, or as a new rule; True if it changed."""
    key = _peer_key(grant.direction)
    for rule in rules:
        if not isinstance(rule, dict) or _normal_peers(rule.get(key)) != [_normal(grant.peer)]:
            continue
        ports = rule.get("ports")
        if not ports:
            return False  # the rule already allows every port to this peer
        if not grant.ports:
            del rule["ports"]  # the approval is for every port: widen, never narrow
            return True
        missing = [port for port in grant.ports
                   if not any(_covers(have, port) for have in ports)]
        ports.extend(dict(port) for port in missing)
        return bool(missing)
    rules.append(_rule(grant))
    return True


def _normal_peers(peers: object) -> list[dict[str, Any]] | None:
    if not isinstance(peers, list):
        return None
    return [_normal(peer) for peer in peers if isinstance(peer, dict)]


def _normal(peer: dict[str, Any]) -> dict[str, Any]:
    normal = {key: normal_selector(value) for key, value in peer.items()
              if key in ("namespaceSelector", "podSelector") and isinstance(value, dict)}
    if isinstance(peer.get("ipBlock"), dict):
        block = peer["ipBlock"]
        normal["ipBlock"] = {"cidr": block.get("cidr"), "except": sorted(block.get("except") or ())}
    return normal


def _covers(have: object, port: dict[str, Any]) -> bool:
    if not isinstance(have, dict):
        return False
    if (have.get("protocol") or "TCP") != port["protocol"]:
        return False
    if have.get("port") is None:
        return True  # every port of the protocol
    if "port" not in port:
        return False
    if have["port"] == port["port"]:
        return True
    end = have.get("endPort")
    return (isinstance(end, int) and isinstance(have["port"], int)
            and isinstance(port["port"], int) and have["port"] <= port["port"] <= end)


def _record(policy: Policy, grant: Grant, note: ApprovalNote) -> None:
    """Append this approval as one JSON line (one line per rule approved, so a GitOps diff shows
    who approved what), dropping the oldest lines past the size cap."""
    annotations = policy["metadata"].setdefault("annotations", {})
    lines = [line for line in str(annotations.get(APPROVALS, "")).splitlines() if line]
    lines.append(json.dumps({
        "rule": grant.summary,
        "anomaly": note.anomaly_id,
        "by": note.approved_by,
        "at": note.approved_at.astimezone(UTC).isoformat(timespec="seconds").replace(
            "+00:00", "Z"),
    }, separators=(",", ":")))
    while len(lines) > 1 and len("\n".join(lines)) > MAX_APPROVALS_CHARS:
        lines.pop(0)
    annotations[APPROVALS] = "\n".join(lines)
