"""GitHub's published description, as the bench loads it, tells a request GitHub would
accept from one it would not, and an answer of the shape GitHub sends from one it never sends;
so a test that passes it says something about the real API."""

from __future__ import annotations

from typing import Any

import pytest

from testbench.github_openapi import PACKAGE_VERSION, DescriptionMismatch, GitHubDescription

PULLS = "/repos/octo-org/gitops/pulls"
GOOD_BODY = {"title": "Allow checkout to reach payments", "head": "flow-bot/batch-1",
             "base": "main", "body": "Approved by @alice"}


def full_pull_request(description: GitHubDescription) -> Any:
    pull = description.example("pull-request")
    pull["requested_teams"] = []  # the published example lacks a field its schema requires
    return pull


def test_the_bench_loads_the_pinned_description(github_description: GitHubDescription) -> None:
    assert github_description.version == PACKAGE_VERSION


def test_a_well_formed_create_pull_request_is_accepted(
    github_description: GitHubDescription,
) -> None:
    operation = github_description.check_request("POST", PULLS, GOOD_BODY)
    assert operation.operation_id == "pulls/create"
    assert operation.path_parameters == {"owner": "octo-org", "repo": "gitops"}


@pytest.mark.parametrize(("body", "complaint"), [
    ({**GOOD_BODY, "head": 42}, "at /head: 42 is not of type 'string'"),
    ({key: value for key, value in GOOD_BODY.items() if key != "base"},
     "'base' is a required property"),
    ({**GOOD_BODY, "titel": "typo"}, "titel are not described"),
    ({**GOOD_BODY, "draft": "yes"}, "at /draft: 'yes' is not of type 'boolean'"),
    (None, "the JSON body is required"),
    (["not", "an", "object"], "is not of type 'object'"),
])
def test_a_wrong_create_pull_request_body_is_rejected(
    github_description: GitHubDescription, body: object, complaint: str
) -> None:
    with pytest.raises(DescriptionMismatch, match="pulls/create") as refused:
        github_description.check_request("POST", PULLS, body)
    assert complaint in str(refused.value)


@pytest.mark.parametrize(("method", "target", "complaint"), [
    ("GET", "/repos/octo-org/gitops/pull", "describes no such operation"),
    ("DELETE", f"{PULLS}/7", "describes no such operation"),
    ("GET", f"{PULLS}/seven", "path parameter pull_number"),
    ("GET", f"{PULLS}?state=merged", "query parameter state"),
    ("GET", f"{PULLS}?head_branch=x", "query parameter 'head_branch' is not declared"),
    ("GET", f"{PULLS}?per_page=many", "query parameter per_page"),
    ("GET", f"{PULLS}/7", None),
    ("GET", f"{PULLS}?state=all&head=octo-org:flow-bot/batch-1&per_page=10", None),
])
def test_paths_methods_and_query_parameters_are_checked(
    github_description: GitHubDescription, method: str, target: str, complaint: str | None
) -> None:
    if complaint is None:
        github_description.check_request(method, target, None)
        return
    with pytest.raises(DescriptionMismatch) as refused:
        github_description.check_request(method, target, None)
    assert complaint in str(refused.value)


def test_an_answer_of_githubs_shape_is_accepted_and_a_damaged_one_is_not(
    github_description: GitHubDescription,
) -> None:
    operation = github_description.operation("GET", f"{PULLS}/1347")
    pull = full_pull_request(github_description)
    github_description.check_response(operation, 200, pull)
    github_description.check_response(operation, 200, {**pull, "body": None})  # nullable
    github_description.check_response(operation, 304, None)

    for damaged, complaint in [
        ({key: value for key, value in pull.items() if key != "merged"},
         "'merged' is a required property"),
        ({**pull, "state": "merged"}, "at /state: 'merged' is not one of"),
        ({**pull, "number": "1347"}, "at /number: '1347' is not of type 'integer'"),
        ({**pull, "title": None}, "at /title: None is not of type 'string'"),
        ({**pull, "head": {**pull["head"], "sha": None}}, "at /head/sha"),
    ]:
        with pytest.raises(DescriptionMismatch) as refused:
            github_description.check_response(operation, 200, damaged)
        assert complaint in str(refused.value)


def test_an_undescribed_status_is_a_mismatch(github_description: GitHubDescription) -> None:
    operation = github_description.operation("GET", f"{PULLS}/1")
    with pytest.raises(DescriptionMismatch, match="status 418 is not described"):
        github_description.check_response(operation, 418, {"message": "teapot"})
