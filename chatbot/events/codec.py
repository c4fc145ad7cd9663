"""Targets to and from the plain dicts stored with an anomaly (schema-v1 field names)."""

from __future__ import annotations

from typing import Any

from chatbot.events.model import (
    HttpCall,
    InternetTarget,
    KafkaTarget,
    KubernetesTarget,
    Target,
    TargetType,
)


def target_to_dict(target: Target) -> dict[str, Any]:
    match target:
        case KubernetesTarget():
            doc: dict[str, Any] = {"type": "kubernetes", "name": target.name,
                                   "namespace": target.namespace, "kind": target.kind,
                                   "port": target.port, "protocol": target.protocol}
            if target.http:
                doc["http"] = {"path": target.http.path, "method": target.http.method}
        case KafkaTarget():
            doc = {"type": "kafka", "name": target.name, "namespace": target.namespace,
                   "topic": target.topic, "operation": target.operation}
        case InternetTarget():
            doc = {"type": "internet", "domain": target.domain, "ip": target.ip,
                   "port": target.port, "protocol": target.protocol}
    return {key: value for key, value in doc.items() if value is not None}


def target_from_dict(doc: dict[str, Any]) -> Target:
    kind = TargetType(doc["type"])
    if kind is TargetType.KAFKA:
        return KafkaTarget(name=doc["name"], namespace=doc["namespace"], topic=doc["topic"],
                           operation=doc["operation"])
    if kind is TargetType.INTERNET:
        return InternetTarget(domain=doc.get("domain"), ip=doc.get("ip"), port=doc.get("port"),
                              protocol=doc.get("protocol"))
    http = doc.get("http")
    return KubernetesTarget(
        name=doc["name"], namespace=doc["namespace"], kind=doc.get("kind"),
        port=doc.get("port"), protocol=doc.get("protocol"),
        http=HttpCall(path=http["path"], method=http["method"]) if http else None,
    )
