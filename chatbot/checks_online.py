"""``chatbot check-config --online``: ask the live parts whether ``serve`` could work with
these settings — Slack accepts the token (``auth.test``) and every configured channel and
user group exists with the bot in the channels, Kafka answers and has the topics, the
database answers, and the apiserver lets this identity do what the intents sink does (one
``SelfSubjectAccessReview`` per verb).

Every check runs, whatever the others found; each finding is one line naming the setting.
Nothing is created: no topic, no table, no SQLite file, no ClientIntents.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from aiokafka.admin import AIOKafkaAdminClient
from kubernetes_asyncio.client import (
    ApiClient,
    AuthorizationV1Api,
    CustomObjectsApi,
    V1ResourceAttributes,
    V1SelfSubjectAccessReview,
    V1SelfSubjectAccessReviewSpec,
    VersionApi,
)
from kubernetes_asyncio.client.exceptions import ApiException
from redis.asyncio import Redis
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from chatbot.config.lint import deciding_rule
from chatbot.config.rules import Approvers, Rules
from chatbot.config.settings import Settings
from chatbot.config.validate import in_cluster
from chatbot.errors import ConfigError
from chatbot.intents.document import GROUP, VERSION
from chatbot.intents.kubernetes import PLURAL, VERBS, kubernetes_sink
from chatbot.pipeline.kafka_clients import admin_kwargs
from chatbot.slack.client import web_client
from chatbot.store.db import make_engine
from chatbot.store.migrate import current_revision, head_revision
from chatbot.unreachable import (
    cause,
    database_location,
    database_problem,
    kafka_problem,
    slack_problem,
)

Level = Literal["ok", "warning", "error"]
CHECK_TIMEOUT = 20.0


@dataclass(frozen=True)
class Finding:
    level: Level
    text: str


def ok(text: str) -> Finding:
    return Finding("ok", text)


def warning(text: str) -> Finding:
    return Finding("warning", text)


def error(text: str) -> Finding:
    return Finding("error", text)


async def online_findings(settings: Settings, rules: Rules | None, *,
                          namespaces: Iterable[str] = ()) -> list[Finding]:
    checks: list[Awaitable[list[Finding]]] = [
        _slack(settings, rules), _kafka(settings), _database(settings),
        _cluster(settings, tuple(namespaces))]
    if settings.redis_url:
        checks.append(_redis(settings))
    found: list[Finding] = []
    for result in await asyncio.gather(*(_bounded(check) for check in checks)):
        found += result
    return found


async def _bounded(check: Awaitable[list[Finding]]) -> list[Finding]:
    try:
        return await asyncio.wait_for(check, CHECK_TIMEOUT)
    except TimeoutError:
        return [error(f"a check got no answer within {CHECK_TIMEOUT:g}s")]


# -- Slack ----------------------------------------------------------------------------------

async def _slack(settings: Settings, rules: Rules | None) -> list[Finding]:
    if not settings.slack.bot_token:
        return []  # already an offline error
    client = web_client(settings.slack)
    try:
        return await _slack_with(client, settings, rules)
    finally:
        if client.session is not None:
            await client.session.close()


async def _slack_with(client: AsyncWebClient, settings: Settings,
                      rules: Rules | None) -> list[Finding]:
    api_url = settings.slack.api_url
    try:
        answer = await client.auth_test()
    except Exception as failure:
        problem = slack_problem(api_url, failure)
        if problem is None:
            raise
        return [error(problem if "CHATBOT_SLACK_BOT_TOKEN" in problem
                      else f"CHATBOT_SLACK_API_URL: {problem}")]
    found = [ok(f"Slack accepts the bot token: bot {answer.get('user')} in "
                f"{answer.get('team')} ({api_url})")]
    if rules is None:
        return found
    scopes = {s.strip() for s in str(answer.headers.get("x-oauth-scopes", "")).split(",")}
    if rules.escalation.incident_channel and "channels:manage" not in scopes:
        found.append(error("escalation.incident_channel is create, but the bot token lacks "
                           "the channels:manage scope (add it to the Slack app and reinstall)"))
    try:
        listed = await _channels(client)
    except SlackApiError as failure:
        return [*found, error(f"cannot list Slack channels: {slack_problem(api_url, failure)}")]
    for channel, where in _configured_channels(rules):
        known = listed.get(channel)
        if known is None:
            found.append(error(f"{where}: channel #{channel} does not exist in the workspace, "
                               "or the bot cannot see it (a private channel it is not in)"))
        elif not known:
            found.append(error(f"{where}: the bot is not a member of #{channel}; invite it "
                               "(/invite @the-bot) or it cannot post there"))
        else:
            found.append(ok(f"{where}: #{channel} exists and the bot is in it"))
    found += await _groups(client, rules, api_url)
    return found


async def _channels(client: AsyncWebClient) -> dict[str, bool]:
    """Channel name and ID → whether the bot is a member."""
    channels: dict[str, bool] = {}
    cursor: str | None = None
    while True:
        page = await client.conversations_list(limit=1000, cursor=cursor, exclude_archived=True,
                                               types="public_channel,private_channel")
        listed: list[dict[str, Any]] = page.get("channels", [])
        for channel in listed:
            member = bool(channel.get("is_member"))
            channels[str(channel["name"])] = channels[str(channel["id"])] = member
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            return channels


def _configured_channels(rules: Rules) -> list[tuple[str, str]]:
    named = [(rules.default_channel, "channels.default")]
    if rules.war_room_channel:
        named.append((rules.war_room_channel, "channels.war_room"))
    named += [(route.channel, f"routes[{i}].channel") for i, route in enumerate(rules.routes)]
    return named


async def _groups(client: AsyncWebClient, rules: Rules, api_url: str) -> list[Finding]:
    """Every user group named exists; a quorum is reachable counting group members."""
    people: list[tuple[str, Approvers]] = [(f"approvers[{i}]", a)
                                           for i, a in enumerate(rules.approvers)]
    people += [("escalation.war_room_approvers", rules.escalation.war_room_approvers),
               ("escalation.responders", rules.escalation.responders)]
    members: dict[str, frozenset[str]] = {}
    found = []
    for where, approvers in people:
        for group in sorted(approvers.groups - members.keys()):
            try:
                answer = await client.usergroups_users_list(usergroup=group)
            except SlackApiError as failure:
                found.append(error(f"{where}.groups: user group {group}: "
                                   f"{slack_problem(api_url, failure)}"))
                members[group] = frozenset()
                continue
            members[group] = frozenset(answer.get("users", []))
    for index, quorum in enumerate(rules.quorum):
        for pattern in quorum.namespaces:
            found_rule = deciding_rule(rules, pattern)
            if found_rule is None or not found_rule[1].groups:
                continue  # the offline checks covered this
            deciding = found_rule[1]
            reachable = deciding.users.union(*(members.get(g, frozenset())
                                               for g in deciding.groups))
            if len(reachable) < quorum.approvals:
                found.append(error(f"quorum[{index}] asks for {quorum.approvals} approvals "
                                   f"in {pattern!r}, but its approvers and their groups are "
                                   f"only {len(reachable)} people"))
    return found


# -- Kafka, the database, Redis --------------------------------------------------------------

async def _kafka(settings: Settings) -> list[Finding]:
    kafka = settings.kafka
    try:
        admin = AIOKafkaAdminClient(**admin_kwargs(kafka), request_timeout_ms=10_000)
    except ConfigError:
        return []  # already an offline error
    try:
        await admin.start()
        topics = set(await admin.list_topics())
    except Exception as failure:
        problem = kafka_problem(kafka.bootstrap, failure)
        if problem is None:
            raise
        return [error(f"CHATBOT_KAFKA_BOOTSTRAP: {problem}")]
    finally:
        await admin.close()
    found = [ok(f"Kafka answers at {kafka.bootstrap}")]
    if kafka.topic in topics:
        found.append(ok(f"CHATBOT_KAFKA_TOPIC: topic {kafka.topic} exists"))
    else:
        found.append(error(f"CHATBOT_KAFKA_TOPIC: topic {kafka.topic} does not exist (serve "
                           "would wait for it)"))
    if kafka.flows_topic and kafka.flows_topic in topics:
        found.append(ok(f"CHATBOT_KAFKA_FLOWS_TOPIC: topic {kafka.flows_topic} exists"))
    elif kafka.flows_topic:
        found.append(error(f"CHATBOT_KAFKA_FLOWS_TOPIC: topic {kafka.flows_topic} does not "
                           "exist (serve would wait for it)"))
    if kafka.dlq_topic not in topics:
        found.append(warning(f"CHATBOT_KAFKA_DLQ_TOPIC: topic {kafka.dlq_topic} does not "
                             "exist; bad events fail to send unless the broker creates "
                             "topics on first use"))
    return found


async def _database(settings: Settings) -> list[Finding]:
    url = settings.database_url.reveal()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        if not await asyncio.to_thread(path.exists):  # connecting would create it
            return [ok(f"CHATBOT_DATABASE_URL: serve will create the SQLite file {path}")]
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        revision, newest = await current_revision(engine), head_revision()
    except Exception as failure:
        problem = database_problem(url, failure)
        if problem is None:
            raise
        return [error(f"CHATBOT_DATABASE_URL: {problem}")]
    finally:
        await engine.dispose()
    found = [ok(f"the database answers at {database_location(url)}")]
    if revision != newest:
        found.append(warning(f"the database schema is at {revision or 'nothing yet'}, the "
                             f"newest is {newest}: serve upgrades it at start (or run "
                             "chatbot migrate)"))
    return found


async def _redis(settings: Settings) -> list[Finding]:
    assert settings.redis_url is not None
    redis = Redis.from_url(settings.redis_url.reveal(), socket_connect_timeout=5)
    try:
        await redis.ping()
    except Exception as failure:
        return [error(f"CHATBOT_REDIS_URL: cannot reach Redis: {cause(failure)}")]
    finally:
        await redis.aclose()
    return [ok("Redis answers")]


# -- the apiserver ---------------------------------------------------------------------------

# (API group, resource, verbs) each output needs, as the chart's RBAC grants them.
Access = tuple[tuple[str, str, tuple[str, ...]], ...]
CLIENTINTENTS_ACCESS: Access = ((GROUP, PLURAL, (*VERBS, "watch")),)
"""Writes, and the coverage watch (chatbot/intents/watch.py)."""
OWNER_ACCESS: Access = (("", "pods", ("get",)), ("apps", "replicasets", ("get",)),
                        ("batch", "jobs", ("get",)))
"""Owners of the pods Hubble names without their workload (chatbot/cluster/owners.py)."""
NETWORKPOLICY_ACCESS: Access = (
    ("networking.k8s.io", "networkpolicies", VERBS),
    *(("apps", kind, ("get",)) for kind in ("deployments", "statefulsets", "daemonsets",
                                            "replicasets")),
    ("batch", "jobs", ("get",)), ("", "pods", ("get",)), ("", "services", ("get",)),
)


async def _cluster(settings: Settings, namespaces: tuple[str, ...]) -> list[Finding]:
    networkpolicy = settings.intents_format == "networkpolicy"
    files = settings.intents_directory is not None or settings.intents_sink == "git"
    access = NETWORKPOLICY_ACCESS if networkpolicy else CLIENTINTENTS_ACCESS
    if files and not networkpolicy:
        # Writes files; reads the cluster only if it can (chatbot/sensors/wiring.py): the git
        # sink watches the ClientIntents merged there, Hubble flows need their pods' owners.
        if settings.kubeconfig is None and not in_cluster():
            return []
        access = ((GROUP, PLURAL, ("list", "watch")),) if settings.intents_sink == "git" else ()
        if not access and not settings.kafka.flows_topic:
            return []
    elif files:  # writes files, only reads pod selectors
        access = tuple(entry for entry in access if entry[1] != "networkpolicies")
    try:
        sink = await kubernetes_sink(settings.kubeconfig)
    except ConfigError as failure:
        return [error(str(failure))]
    if settings.kafka.flows_topic:
        access += tuple(entry for entry in OWNER_ACCESS if entry not in access)
    try:
        return await _cluster_with(sink.api_client, namespaces, access=access,
                                   needs_crd=not networkpolicy and
                                   settings.intents_directory is None)
    finally:
        await sink.close()


async def _cluster_with(api: ApiClient, namespaces: tuple[str, ...], *, access: Access,
                        needs_crd: bool) -> list[Finding]:
    try:
        version = await VersionApi(api).get_code()
    except ApiException as failure:
        return [error(f"the apiserver refused even /version: {failure.status} {failure.reason}")]
    except Exception as failure:
        return [error(f"cannot reach the apiserver at {api.configuration.host}: "
                      f"{cause(failure)}")]
    found = [ok(f"the apiserver answers at {api.configuration.host} ({version.git_version})")]
    if needs_crd and not await _crd_installed(api):
        found.append(error(f"the ClientIntents CRD ({GROUP}/{VERSION}) is not installed; "
                           "Otterize's intents operator (or deploy/crds/) provides it"))
    authorization = AuthorizationV1Api(api)
    for namespace in namespaces or ("",):
        where = f"in namespace {namespace}" if namespace else "in every namespace"
        for group, resource, verbs in access:
            name = f"{resource}.{group}" if group else resource
            refused = [verb for verb in verbs if not await _allowed(
                authorization, group=group, resource=resource, verb=verb, namespace=namespace)]
            if refused:
                found.append(error(
                    f"CHATBOT_INTENTS_SINK: this identity may not {', '.join(refused)} {name} "
                    f"{where}; the sink needs {', '.join(verbs)} (the chart's RBAC grants "
                    "exactly these)"))
            else:
                found.append(ok(f"this identity may {', '.join(verbs)} {name} {where}"))
    return found


async def _crd_installed(api: ApiClient) -> bool:
    try:
        resources = await CustomObjectsApi(api).get_api_resources(GROUP, VERSION)
    except ApiException as failure:
        if failure.status != 404:
            raise
        return False
    return any(r.name == PLURAL for r in resources.resources)


async def _allowed(api: AuthorizationV1Api, *, group: str, resource: str, verb: str,
                   namespace: str) -> bool:
    review = V1SelfSubjectAccessReview(spec=V1SelfSubjectAccessReviewSpec(
        resource_attributes=V1ResourceAttributes(group=group, resource=resource, verb=verb,
                                                 namespace=namespace or None)))
    answer: Any = await api.create_self_subject_access_review(review)
    return bool(answer.status.allowed)
