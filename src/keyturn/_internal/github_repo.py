"""Repository plumbing for changelog pull requests and workflow checks: refs, contents, pulls, runs.

A thin, typed layer over :class:`~keyturn._internal.github_client.GitHubSession` (PyGithub's
requester, paced and retried by keyturn's scheduler) for one repository: read a file at a
ref, write a file on a branch with optimistic concurrency (the blob ``sha``), create or
move a branch, find/open/update the pull request of a branch, dispatch a workflow and read
its runs. Every failure becomes one line that names the call and, for a 403, the GitHub App
permission or workflow ``permissions:`` entry that is missing. Never handles a secret value;
must not import a store, target or the engine.
"""

from __future__ import annotations

import base64
import urllib.parse
from dataclasses import dataclass
from typing import Any

from keyturn._internal.github_client import Counter, GitHubRequestFailed, GitHubSession
from keyturn.errors import Conflict, ServiceError, UsageError

NOT_PERMITTED = "not permitted to create or approve pull requests"

#: (path fragment, method) → the permission a 403 there is missing: (App permission, workflow key).
_PERMISSIONS: tuple[tuple[str, str | None, tuple[str, str]], ...] = (
    ("/pulls", None, ("Pull requests: write", "pull-requests: write")),
    ("/contents/", "GET", ("Contents: read", "contents: read")),
    ("/contents/", None, ("Contents: write", "contents: write")),
    ("/git/", "GET", ("Contents: read", "contents: read")),
    ("/git/", None, ("Contents: write", "contents: write")),
    ("/branches/", None, ("Contents: read", "contents: read")),
    ("/actions/workflows/", "POST", ("Actions: write", "actions: write")),
    ("/actions/", None, ("Actions: read", "actions: read")),
)


def missing_permission(method: str, path: str) -> str:
    """The permission a 403 on ``method path`` is missing (GitHub App and workflow spelling)."""
    for fragment, verb, (app, workflow) in _PERMISSIONS:
        if fragment in path and verb in (None, method):
            return f"{app} (GitHub App) / `{workflow}` (workflow permissions)"
    return "the permission this endpoint documents"


@dataclass(frozen=True)
class RemoteFile:
    path: str
    content: bytes
    sha: str  # the blob sha GitHub needs to update the file


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str
    head: str
    base: str
    body: str


class RepoClient:
    """One repository (``owner/name``) through a shared :class:`GitHubSession`."""

    def __init__(self, session: GitHubSession, repository: str) -> None:
        if repository.count("/") != 1 or not all(repository.split("/")):
            raise UsageError(f"github: repository {repository!r} must be owner/name (set GITHUB_REPOSITORY)")
        self.session = session
        self.repository = repository
        self.base = f"/repos/{repository}"
        self.counter = Counter()

    # -- one request ------------------------------------------------------------------
    def _call(self, method: str, path: str, *, body: Any = None, params: dict[str, Any] | None = None,
              ok_missing: bool = False) -> tuple[int, Any, dict[str, str]]:
        try:
            resp = self.session.request(method, self.base + path, self.counter, body=body, params=params,
                                        ok_missing=ok_missing)
        except GitHubRequestFailed as exc:
            raise self._translate(exc) from None
        return resp.status, resp.data, dict(resp.headers)

    def _translate(self, exc: GitHubRequestFailed) -> Exception:
        where = f"github:{self.repository}: {exc.method} {exc.path.removeprefix(self.base) or '/'}"
        if exc.status == 403 and NOT_PERMITTED in exc.github_message:
            return UsageError(
                f"{where}: GitHub Actions is not permitted to create pull requests here — enable Settings → "
                "Actions → General → \"Allow GitHub Actions to create and approve pull requests\" (for an "
                "organization, allow it there first), or pass a GitHub App token with Pull requests: write "
                "(actions/create-github-app-token, permission-pull-requests: write)"
            )
        if exc.status == 403 and "rate limit" not in exc.github_message.lower():
            need = missing_permission(exc.method, exc.path)
            return UsageError(f"{where}: HTTP 403 ({exc.github_message[:120]}) — the token needs {need}")
        if exc.status == 404 and exc.path == self.base:
            return UsageError(f"github:{self.repository}: repository not found — check GITHUB_REPOSITORY and that "
                              "the token (or GitHub App installation) can see it")
        if exc.status == 401:
            return UsageError(f"{where}: bad credentials — check GITHUB_TOKEN or the GitHub App key")
        if exc.status == 409 or (exc.status == 422 and ("/contents/" in exc.path or exc.path.endswith("/git/refs"))):
            return Conflict(f"{where}: the branch moved while keyturn wrote to it — re-run the same command")
        return ServiceError(f"{where}: {exc}")

    # -- repository, refs ---------------------------------------------------------------
    def default_branch(self) -> str:
        _, data, _ = self._call("GET", "")
        return str(data["default_branch"])

    def branch_sha(self, branch: str) -> str | None:
        status, data, _ = self._call("GET", f"/git/ref/heads/{_q(branch)}", ok_missing=True)
        if status == 404 or not isinstance(data, dict) or "object" not in data:
            return None
        return str(data["object"]["sha"])

    def create_branch(self, branch: str, sha: str) -> None:
        self._call("POST", "/git/refs", body={"ref": f"refs/heads/{branch}", "sha": sha})

    def move_branch(self, branch: str, sha: str) -> None:
        self._call("PATCH", f"/git/refs/heads/{_q(branch)}", body={"sha": sha, "force": True})

    # -- contents -----------------------------------------------------------------------
    def read_file(self, path: str, ref: str) -> RemoteFile | None:
        status, data, _ = self._call("GET", f"/contents/{_q(path)}", params={"ref": ref}, ok_missing=True)
        if status == 404 or not isinstance(data, dict):
            return None
        if data.get("type") != "file":
            raise UsageError(f"github:{self.repository}: {path} on {ref} is not a file")
        raw = base64.b64decode(str(data.get("content") or ""))
        return RemoteFile(path, raw, str(data["sha"]))

    def write_file(self, path: str, content: bytes, branch: str, message: str, sha: str | None) -> str:
        """Create or update ``path`` on ``branch``; returns the new commit sha."""
        body: dict[str, Any] = {
            "message": message,
            "content": base64.b64encode(content).decode("ascii"),
            "branch": branch,
        }
        if sha:
            body["sha"] = sha
        _, data, _ = self._call("PUT", f"/contents/{_q(path)}", body=body)
        return str(((data or {}).get("commit") or {}).get("sha", ""))

    # -- pull requests --------------------------------------------------------------------
    def open_pull(self, branch: str, base: str) -> PullRequest | None:
        owner = self.repository.split("/")[0]
        _, data, _ = self._call("GET", "/pulls", params={"state": "open", "head": f"{owner}:{branch}",
                                                         "base": base, "per_page": 100})
        for item in data or []:
            if item.get("head", {}).get("ref") == branch:
                return _pull(item)
        return None

    def create_pull(self, branch: str, base: str, title: str, body: str) -> PullRequest:
        _, data, _ = self._call("POST", "/pulls", body={"title": title, "head": branch, "base": base,
                                                        "body": body, "draft": False})
        return _pull(data)

    def update_pull(self, number: int, title: str, body: str) -> PullRequest:
        _, data, _ = self._call("PATCH", f"/pulls/{number}", body={"title": title, "body": body})
        return _pull(data)

    # -- workflows ----------------------------------------------------------------------
    def dispatch(self, workflow: str, ref: str, inputs: dict[str, str]) -> int | None:
        """Dispatch ``workflow`` (file name or id) on ``ref``; the run id when GitHub returns it."""
        status, data, _ = self._call("POST", f"/actions/workflows/{_q(workflow)}/dispatches",
                                     body={"ref": ref, "inputs": inputs, "return_run_details": True})
        if status == 200 and isinstance(data, dict) and data.get("workflow_run_id"):
            return int(data["workflow_run_id"])
        return None

    def workflow_runs(self, workflow: str, ref: str) -> list[dict[str, Any]]:
        _, data, _ = self._call("GET", f"/actions/workflows/{_q(workflow)}/runs",
                                params={"event": "workflow_dispatch", "branch": ref, "per_page": 20})
        return list((data or {}).get("workflow_runs") or [])

    def run(self, run_id: int) -> dict[str, Any]:
        _, data, _ = self._call("GET", f"/actions/runs/{run_id}")
        return dict(data or {})


def _q(text: str) -> str:
    return urllib.parse.quote(text, safe="/")


def _pull(item: Any) -> PullRequest:
    return PullRequest(int(item["number"]), str(item.get("html_url") or item.get("url") or ""),
                       str(item.get("head", {}).get("ref", "")), str(item.get("base", {}).get("ref", "")),
                       str(item.get("body") or ""))
