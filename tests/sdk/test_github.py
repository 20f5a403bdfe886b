"""stubs/github.yaml through PyGithub."""

from __future__ import annotations

import github
import pytest

from mockserver import MockServerClient
from tests.sdk.conftest import answered

REPO = "octocat/hello-world"


@pytest.fixture
def gh(mockserver: MockServerClient) -> github.Github:
    # retry=None: a 403 rate limit fails at once instead of waiting for the reset; and no pause
    # between requests (PyGithub waits 0.25 s between requests and 1 s between writes by default)
    return github.Github(
        base_url=f"{mockserver.url}/github",
        auth=github.Auth.Token("ghp_test"),
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )


@pytest.mark.pack_stubs("github-get-repo")
def test_get_a_repository_and_read_the_rate_limit_headers(
    gh: github.Github, mockserver: MockServerClient
) -> None:
    repo = gh.get_repo(REPO)

    assert isinstance(repo, github.Repository.Repository)
    assert (repo.full_name, repo.name, repo.default_branch) == (REPO, "hello-world", "main")
    assert repo.owner.login == "octocat"
    assert repo.private is False
    # PyGithub keeps the last answer's X-RateLimit-* headers
    assert gh.rate_limiting == (4987, 5000)
    assert gh.rate_limiting_resettime == 1893456000
    assert answered(mockserver) == ["github-get-repo"]
    (sent,) = mockserver.requests()
    assert sent.headers["authorization"] == "token ghp_test"


@pytest.mark.pack_stubs("github-rate-limit")
def test_the_rate_limit_overview(gh: github.Github, mockserver: MockServerClient) -> None:
    overview = gh.get_rate_limit()

    assert isinstance(overview, github.RateLimitOverview.RateLimitOverview)
    assert (overview.resources.core.limit, overview.resources.core.remaining) == (5000, 4987)
    assert overview.resources.search.limit == 30
    assert overview.rate.used == 13
    assert overview.rate.reset.year == 2030
    assert answered(mockserver) == ["github-rate-limit"]


@pytest.mark.pack_stubs("github-rate-limit-exceeded")
def test_an_exhausted_rate_limit_raises_rate_limit_exceeded(
    gh: github.Github, mockserver: MockServerClient
) -> None:
    with pytest.raises(github.RateLimitExceededException) as raised:
        gh.get_repo("octocat/rate-limited")

    assert raised.value.status == 403
    assert raised.value.headers["x-ratelimit-remaining"] == "0"
    assert gh.rate_limiting == (0, 5000)
    assert answered(mockserver) == ["github-rate-limit-exceeded"]


@pytest.mark.pack_stubs("github-list-issues", "github-list-issues-page-2")
def test_issues_are_paginated_through_the_link_header(
    gh: github.Github, mockserver: MockServerClient
) -> None:
    repo = gh.get_repo(REPO)
    issues = list(repo.get_issues(state="open"))

    assert all(isinstance(issue, github.Issue.Issue) for issue in issues)
    assert [issue.number for issue in issues] == [1347, 1348, 1349]
    assert issues[0].labels[0].name == "bug"
    assert issues[1].user.login == "hubot"
    assert answered(mockserver) == [
        "github-get-repo",
        "github-list-issues",
        "github-list-issues-page-2",
    ]
    assert mockserver.requests()[-1].query == {"state": ["open"], "page": ["2"]}


@pytest.mark.pack_stubs("github-create-issue")
def test_open_an_issue(gh: github.Github, mockserver: MockServerClient) -> None:
    repo = gh.get_repo(REPO)
    issue = repo.create_issue(
        title="Payment failed for order 42", body="card_declined", labels=["payments"]
    )

    assert isinstance(issue, github.Issue.Issue)
    assert (issue.number, issue.state) == (1350, "open")
    assert (issue.title, issue.body) == ("Payment failed for order 42", "card_declined")
    assert issue.html_url == f"https://github.com/{REPO}/issues/1350"
    assert answered(mockserver) == ["github-get-repo", "github-create-issue"]
    mockserver.verify(
        method="POST",
        path="/github/repos/octocat/hello-world/issues",
        json={"title": "Payment failed for order 42", "labels": ["payments"]},
    )


@pytest.mark.pack_stubs("github-create-issue-invalid")
def test_an_issue_without_a_title_fails_validation(
    gh: github.Github, mockserver: MockServerClient
) -> None:
    repo = gh.get_repo(REPO)
    with pytest.raises(github.GithubException) as raised:
        repo.create_issue(title="")

    assert raised.value.status == 422
    assert raised.value.data["errors"][0]["code"] == "missing_field"
    assert answered(mockserver) == ["github-get-repo", "github-create-issue-invalid"]


@pytest.mark.pack_stubs("github-list-pulls", "github-get-pull", "github-create-pull")
def test_list_get_and_open_pull_requests(gh: github.Github, mockserver: MockServerClient) -> None:
    repo = gh.get_repo(REPO)

    (listed,) = list(repo.get_pulls(state="open"))
    fetched = repo.get_pull(42)
    opened = repo.create_pull(
        title="Add receipts", body="Stores receipts", head="receipts", base="main"
    )

    for pull in (listed, fetched, opened):
        assert isinstance(pull, github.PullRequest.PullRequest)
    assert (listed.number, listed.head.ref, listed.base.ref) == (42, "retry-payments", "main")
    assert (fetched.number, fetched.merged, fetched.changed_files) == (42, False, 4)
    assert (opened.number, opened.title, opened.head.ref, opened.base.ref) == (
        43,
        "Add receipts",
        "receipts",
        "main",
    )
    assert opened.draft is False
    assert answered(mockserver) == [
        "github-get-repo",
        "github-list-pulls",
        "github-get-pull",
        "github-create-pull",
    ]
    (sent,) = mockserver.find(method="POST")
    assert sent.json == {
        "title": "Add receipts",
        "body": "Stores receipts",
        "head": "receipts",
        "base": "main",
    }
