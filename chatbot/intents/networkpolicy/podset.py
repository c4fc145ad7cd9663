"""The pods of one workload (or Service) as a NetworkPolicy sees them: a namespace and a label
selector, plus the labels every such pod is known to carry. Pure: resolve.py builds these from
the apiserver; the translation and the impact preview only read them.

Selector matching follows apimachinery's LabelSelector rules (matchLabels AND every
matchExpression; In, NotIn, Exists, DoesNotExist).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

LabelSelector = dict[str, Any]
"""A Kubernetes LabelSelector as JSON: ``{"matchLabels": {...}, "matchExpressions": [...]}``."""

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
"""Set by the apiserver on every namespace (Kubernetes 1.21+), so it names exactly one."""


@dataclass(frozen=True, slots=True)
class PodSet:
    namespace: str
    kind: str
    """What the flow named: ``Deployment``, ``Service``, ``Pod``, …"""
    name: str
    selector: LabelSelector
    labels: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)
    """Labels every selected pod carries (the pod template's, or a Service's selector): enough
    to tell which existing policies select these pods."""

    @property
    def owner(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"

    def peer(self) -> dict[str, Any]:
        """One NetworkPolicyPeer naming these pods and nothing else: the namespace AND the pods
        in a single entry (two entries would mean either, i.e. the whole namespace)."""
        return {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: self.namespace}},
                "podSelector": normal_selector(self.selector)}


def normal_selector(selector: Mapping[str, Any]) -> LabelSelector:
    """The selector with empty parts dropped and labels sorted, so equal selectors compare equal
    however the apiserver or a person spelt them."""
    normal: LabelSelector = {}
    labels = selector.get("matchLabels") or {}
    if labels:
        normal["matchLabels"] = dict(sorted(labels.items()))
    expressions = selector.get("matchExpressions") or []
    if expressions:
        normal["matchExpressions"] = [
            {key: value for key, value in expression.items() if value is not None}
            for expression in expressions
        ]
    return normal


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Does `selector` select a pod with `labels`? An empty selector selects every pod."""
    if selector is None:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    return all(_expression_holds(expression, labels)
               for expression in selector.get("matchExpressions") or ())


def _expression_holds(expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, operator = str(expression.get("key")), expression.get("operator")
    values = expression.get("values") or ()
    match operator:
        case "In":
            return key in labels and labels[key] in values
        case "NotIn":
            return key not in labels or labels[key] not in values
        case "Exists":
            return key in labels
        case "DoesNotExist":
            return key not in labels
    return False  # an operator we do not know: never claim a match
