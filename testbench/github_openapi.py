"""GitHub's published REST description (npm package ``@octokit/openapi``) as a checker: the
GitHub forge adapter cannot reach the real GitHub here, so every request it sends and every
response shape it reads in the tests is checked against the operation GitHub describes.

A request is matched to an operation by method and path template, then its path and query
parameters and its JSON body are validated against the operation's schemas (and, stricter than
GitHub, unknown top-level body fields and undeclared query parameters are refused, since GitHub
would silently ignore a misspelt field). A response body is validated against the schema of
its status code. ``$ref`` pointers resolve within the document.
"""

from __future__ import annotations

import copy
import fcntl
import json
import re
import tarfile
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from testbench.paths import cache_dir
from testbench.process import BenchError, progress, run_checked

COMPONENT = "github-openapi"
PACKAGE = "@octokit/openapi"
# The newest release the npm registry served when this was written (dist-tag latest).
PACKAGE_VERSION = "23.0.2"
MEMBER = "package/generated/api.github.com.json"
_BASE_URI = "urn:github-openapi"


class DescriptionMismatch(AssertionError):
    """A request or response does not fit GitHub's description of the operation."""


def install() -> Path:
    """Fetch the description into the cache once; returns the path of the JSON document."""
    home = cache_dir(COMPONENT, PACKAGE_VERSION)
    document = home / "api.github.com.json"
    stamp = home / "installed"
    if stamp.exists() and document.exists():
        return document
    with (home / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and document.exists():
            return document
        progress(f"{COMPONENT}: fetching {PACKAGE}@{PACKAGE_VERSION} with npm (first run)")
        started = time.monotonic()
        log = home / "install.log"
        with tempfile.TemporaryDirectory(dir=home) as scratch:
            # `npm pack` fetches the package tarball without installing its ~400 MB of
            # descriptions for GitHub Enterprise; only the api.github.com one is kept.
            run_checked(COMPONENT, ["npm", "pack", "--silent", f"{PACKAGE}@{PACKAGE_VERSION}",
                                    "--pack-destination", scratch], log=log, cwd=home)
            tarballs = list(Path(scratch).glob("*.tgz"))
            if len(tarballs) != 1:
                raise BenchError(COMPONENT, f"npm pack left {len(tarballs)} tarballs", log)
            with tarfile.open(tarballs[0]) as archive:
                member = archive.extractfile(MEMBER)
                if member is None:
                    raise BenchError(COMPONENT, f"{MEMBER} is missing from the package", log)
                document.write_bytes(member.read())
        json.loads(document.read_text())  # a truncated file must not be stamped
        stamp.write_text(f"{PACKAGE}@{PACKAGE_VERSION}\n")
        progress(f"{COMPONENT}: ready in {time.monotonic() - started:.0f}s")
    return document


@dataclass(frozen=True)
class Operation:
    """One described operation: ``GET /repos/{owner}/{repo}/pulls`` and its definition."""

    method: str
    template: str
    operation_id: str
    definition: Mapping[str, Any]
    path_parameters: Mapping[str, str]


class GitHubDescription:
    """Validates requests and responses against one loaded description document."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self._document = _as_json_schema(document)
        resource: Resource[Any] = Resource.from_contents(self._document,
                                                         default_specification=DRAFT4)
        self._registry: Registry[Any] = Registry().with_resource(_BASE_URI, resource)
        self._templates = sorted(
            ((_template_pattern(template), template) for template in self._document["paths"]),
            # Prefer the most literal template: /pulls/comments over /pulls/{pull_number}.
            key=lambda item: item[1].count("{"),
        )

    @classmethod
    def load(cls, path: Path) -> GitHubDescription:
        return cls(json.loads(path.read_text()))

    @property
    def version(self) -> str:
        return str(self._document["info"]["version"])

    def operation(self, method: str, path: str) -> Operation:
        """The operation a request addresses; unknown paths and methods are mismatches."""
        for pattern, template in self._templates:
            matched = pattern.fullmatch(path)
            if matched is None:
                continue
            item = self._document["paths"][template]
            definition = item.get(method.lower())
            if definition is None:
                continue
            return Operation(method=method.upper(), template=template,
                             operation_id=definition.get("operationId", ""),
                             definition=definition, path_parameters=matched.groupdict())
        raise DescriptionMismatch(f"{method.upper()} {path}: GitHub describes no such operation")

    def check_request(self, method: str, target: str, body: object | None) -> Operation:
        """Validate a request (``target`` is the path with its query string) and return the
        operation it addresses; raise DescriptionMismatch naming what does not fit."""
        split = urlsplit(target)
        operation = self.operation(method, split.path)
        where = f"{operation.method} {operation.template} ({operation.operation_id})"
        parameters = self._parameters(operation)
        for name, raw in operation.path_parameters.items():
            declared = parameters.get(("path", name))
            if declared is None:
                raise DescriptionMismatch(f"{where}: path parameter {name} is not declared")
            self._validate(_coerce(raw, declared.get("schema", {})), declared.get("schema", {}),
                           f"{where}: path parameter {name}")
        query = parse_qsl(split.query, keep_blank_values=True)
        given = {name for name, _ in query}
        for name, raw in query:
            declared = parameters.get(("query", name))
            if declared is None:
                raise DescriptionMismatch(f"{where}: query parameter {name!r} is not declared")
            self._validate(_coerce(raw, declared.get("schema", {})), declared.get("schema", {}),
                           f"{where}: query parameter {name}")
        for (place, name), declared in parameters.items():
            if place == "query" and declared.get("required") and name not in given:
                raise DescriptionMismatch(f"{where}: required query parameter {name} missing")
        self._check_body(operation, body, where)
        return operation

    def check_response(self, operation: Operation, status: int, body: object | None) -> None:
        """Validate a response body against the schema described for ``status``."""
        where = f"{operation.method} {operation.template} -> {status}"
        responses = operation.definition.get("responses", {})
        described = responses.get(str(status)) or responses.get("default")
        if described is None:
            raise DescriptionMismatch(f"{where}: status {status} is not described "
                                      f"(described: {', '.join(responses)})")
        described = self._resolve(described)
        content = described.get("content", {})
        schema = content.get("application/json", {}).get("schema")
        if schema is None:
            if body not in (None, b"", ""):
                raise DescriptionMismatch(f"{where}: a body where none is described")
            return
        self._validate(body, schema, where)

    def _check_body(self, operation: Operation, body: object | None, where: str) -> None:
        request_body = operation.definition.get("requestBody")
        if request_body is None:
            if body is not None:
                raise DescriptionMismatch(f"{where}: a body where none is described")
            return
        request_body = self._resolve(request_body)
        schema = request_body.get("content", {}).get("application/json", {}).get("schema")
        if body is None:
            if request_body.get("required"):
                raise DescriptionMismatch(f"{where}: the JSON body is required")
            return
        if schema is None:
            raise DescriptionMismatch(f"{where}: no JSON body is described")
        self._validate(body, schema, f"{where}: body")
        top = self._resolve(schema)
        known = top.get("properties")
        if isinstance(body, dict) and isinstance(known, dict):
            unknown = sorted(set(body) - set(known))
            if unknown:
                raise DescriptionMismatch(f"{where}: body field(s) {', '.join(unknown)} "
                                          "are not described (GitHub would ignore them)")

    def _parameters(self, operation: Operation) -> dict[tuple[str, str], Mapping[str, Any]]:
        item = self._document["paths"][operation.template]
        declared = [*item.get("parameters", []), *operation.definition.get("parameters", [])]
        found: dict[tuple[str, str], Mapping[str, Any]] = {}
        for parameter in declared:
            resolved = self._resolve(parameter)
            found[(resolved["in"], resolved["name"])] = resolved
        return found

    def _resolve(self, node: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in node:
            resolved: Mapping[str, Any] = self._registry.resolver().lookup(node["$ref"]).contents
            node = resolved
        return node

    def _validate(self, instance: object, schema: Mapping[str, Any], where: str) -> None:
        validator = Draft4Validator(schema, registry=self._registry)
        errors = sorted(validator.iter_errors(instance), key=lambda error: list(error.path))
        if errors:
            details = "; ".join(
                f"at /{'/'.join(str(part) for part in error.absolute_path)}: {error.message[:200]}"
                for error in errors[:5]
            )
            raise DescriptionMismatch(f"{where} does not fit the description: {details}")

    def example(self, name: str) -> Any:
        """A deep copy of a named example (``components/examples``), for canned responses."""
        return copy.deepcopy(self._document["components"]["examples"][name]["value"])


@cache
def loaded(path: Path) -> GitHubDescription:
    """Parse a description once per process (13 MB of JSON)."""
    return GitHubDescription.load(path)


def _template_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    regex = "".join(
        f"(?P<{part[1:-1].replace('-', '_')}>[^/]+)" if part.startswith("{") else re.escape(part)
        for part in parts
    )
    return re.compile(regex)


def _coerce(raw: str, schema: Mapping[str, Any]) -> object:
    # Path and query values arrive as text; the schema speaks of their typed meaning.
    kind = schema.get("type")
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return float(raw)
    except ValueError:
        return raw
    if kind == "boolean" and raw in ("true", "false"):
        return raw == "true"
    return raw


def _as_json_schema(document: Mapping[str, Any]) -> Any:
    """OpenAPI 3.0 schemas as Draft 4 JSON Schema: ``nullable`` becomes a null alternative,
    and local ``$ref`` pointers are made absolute so they resolve from any subschema."""

    def convert(node: Any) -> Any:
        if isinstance(node, list):
            return [convert(item) for item in node]
        if not isinstance(node, dict):
            return node
        converted = {key: convert(value) for key, value in node.items()}
        ref = converted.get("$ref")
        if isinstance(ref, str) and ref.startswith("#"):
            converted["$ref"] = _BASE_URI + ref
        # Only the keyword: a property may itself be named "nullable".
        if converted.get("nullable") is True:
            del converted["nullable"]
            kind = converted.get("type")
            if isinstance(kind, str):
                converted["type"] = [kind, "null"]
                if "enum" in converted:
                    converted["enum"] = [*converted["enum"], None]
            else:
                return {"anyOf": [converted, {"type": "null"}]}
        return converted

    return convert(document)
