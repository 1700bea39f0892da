"""Git refs, contents, pull requests and workflow runs on top of the secrets fake.

:class:`FakeGitHubRepos` subclasses :class:`tests.fakes.github_api.FakeGitHub` (same
auth, fault injection and request log) and adds what changelog pull requests and the
``github-workflow`` check use: branches as commit snapshots (``path → bytes``), the
contents API with blob-sha optimistic concurrency (409 on a stale sha, 422 without one),
``git/ref(s)``, pulls (one open PR per head, 422 for a second), a squash ``merge`` helper,
and workflow dispatch with runs whose conclusion a test scripts. Test-only.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.github_api import FakeGitHub

Reply = tuple[int, dict[str, str], Any]


def blob_sha(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()  # noqa: S324 - git's id


@dataclass
class Commit:
    sha: str
    files: dict[str, bytes]
    message: str
    parent: str | None


@dataclass
class Pull:
    number: int
    head: str
    base: str
    title: str
    body: str
    state: str = "open"
    merged: bool = False


@dataclass
class Workflow:
    """A dispatchable workflow; ``outcomes`` are the conclusions of the next runs, in order
    (``None``: the run never completes)."""

    outcomes: list[str | None] = field(default_factory=list)
    polls_until_done: int = 1
    return_run_details: bool = True


@dataclass
class Run:
    id: int
    workflow: str
    ref: str
    inputs: dict[str, Any]
    conclusion: str | None
    polls_left: int


class FakeGitHubRepos(FakeGitHub):
    """``FakeGitHubRepos().start()``; ``add_repo`` then ``seed(repo, {path: bytes})``."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.commits: dict[str, Commit] = {}
        self.branches: dict[str, dict[str, str]] = {}
        self.pulls: dict[str, list[Pull]] = {}
        self.workflows: dict[str, dict[str, Workflow]] = {}
        self.runs: dict[int, Run] = {}
        self._seq = itertools.count(1)
        self._git_lock = threading.RLock()

    # -- setup / inspection -----------------------------------------------------------
    def seed(self, repo: str, files: dict[str, bytes] | None = None, branch: str = "main") -> str:
        self.add_repo(repo)
        return self._commit(repo, branch, dict(files or {}), "initial", None)

    def files(self, repo: str, branch: str) -> dict[str, bytes]:
        sha = self.branches[repo.lower()][branch]
        return dict(self.commits[sha].files)

    def open_pulls(self, repo: str) -> list[Pull]:
        return [p for p in self.pulls.get(repo.lower(), []) if p.state == "open"]

    def merge(self, repo: str, number: int, *, delete_branch: bool = True) -> None:
        """Squash-merge PR ``number`` into its base (the base takes the head's tree)."""
        with self._git_lock:
            pull = next(p for p in self.pulls[repo.lower()] if p.number == number)
            heads = self.branches[repo.lower()]
            files = self.commits[heads[pull.head]].files
            self._commit(repo, pull.base, dict(files), f"{pull.title} (#{number})", heads[pull.base])
            pull.state, pull.merged = "closed", True
            if delete_branch:
                heads.pop(pull.head)

    def add_workflow(self, repo: str, name: str, workflow: Workflow) -> None:
        self.add_repo(repo)
        self.workflows.setdefault(repo.lower(), {})[name] = workflow

    def _commit(self, repo: str, branch: str, files: dict[str, bytes], message: str, parent: str | None) -> str:
        with self._git_lock:
            sha = hashlib.sha1(f"{repo}{branch}{next(self._seq)}".encode()).hexdigest()  # noqa: S324
            self.commits[sha] = Commit(sha, files, message, parent)
            self.branches.setdefault(repo.lower(), {})[branch] = sha
            return sha

    # -- routing -------------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, headers: Any, body: bytes) -> Reply:
        parsed = urllib.parse.urlsplit(raw_path)
        path = urllib.parse.unquote(parsed.path)
        m = re.fullmatch(r"/repos/([^/]+/[^/]+)(/(?:git|contents|pulls|branches|actions/workflows|actions/runs)(?:/.*)?)", path)
        if not m or m.group(1).lower() not in self.branches and "/actions/" not in m.group(2):
            return super().handle(method, raw_path, headers, body)
        fault = self._take_fault(method, path)
        if fault is not None:
            return fault.status, dict(fault.headers), fault.body or {"message": "Server Error"}
        if not self._authorized(headers):
            return 401, {}, {"message": "Bad credentials"}
        repo, rest = m.group(1).lower(), m.group(2)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(parsed.query).items()}
        data = json.loads(body or b"{}") if body else {}
        with self._git_lock:
            return self._route(repo, method, rest, query, data)

    def _route(self, repo: str, method: str, rest: str, query: dict[str, str], data: Any) -> Reply:
        heads = self.branches.get(repo, {})
        if m := re.fullmatch(r"/git/ref/heads/(.+)", rest):
            if method == "GET":
                sha = heads.get(m.group(1))
                return (404, {}, {"message": "Not Found"}) if sha is None else (200, {}, self._ref(repo, m.group(1), sha))
        if rest == "/git/refs" and method == "POST":
            name = str(data.get("ref", "")).removeprefix("refs/heads/")
            if name in heads:
                return 422, {}, {"message": "Reference already exists"}
            if data.get("sha") not in self.commits:
                return 422, {}, {"message": "Object does not exist"}
            heads[name] = data["sha"]
            return 201, {}, self._ref(repo, name, heads[name])
        if (m := re.fullmatch(r"/git/refs/heads/(.+)", rest)) and method == "PATCH":
            if m.group(1) not in heads:
                return 422, {}, {"message": "Reference does not exist"}
            heads[m.group(1)] = data["sha"]
            return 200, {}, self._ref(repo, m.group(1), heads[m.group(1)])
        if m := re.fullmatch(r"/branches/(.+)", rest):
            sha = heads.get(m.group(1))
            if sha is None:
                return 404, {}, {"message": "Branch not found"}
            return 200, {}, {"name": m.group(1), "commit": {"sha": sha}}
        if m := re.fullmatch(r"/contents/(.+)", rest):
            return self._contents(repo, method, m.group(1), query, data)
        if rest == "/pulls" or re.fullmatch(r"/pulls/\d+", rest):
            return self._pulls(repo, method, rest, query, data)
        if m := re.fullmatch(r"/actions/workflows/([^/]+)/(dispatches|runs)", rest):
            return self._workflow(repo, method, m.group(1), m.group(2), data)
        if (m := re.fullmatch(r"/actions/runs/(\d+)", rest)) and method == "GET":
            return self._run(int(m.group(1)))
        return 404, {}, {"message": "Not Found"}

    def _ref(self, repo: str, name: str, sha: str) -> dict[str, Any]:
        return {"ref": f"refs/heads/{name}", "url": f"{self.url}/repos/{repo}/git/refs/heads/{name}",
                "object": {"sha": sha, "type": "commit"}}

    def _contents(self, repo: str, method: str, path: str, query: dict[str, str], data: Any) -> Reply:
        heads = self.branches[repo]
        if method == "GET":
            ref = query.get("ref") or "main"
            sha = heads.get(ref, ref)
            commit = self.commits.get(sha)
            if commit is None:
                return 404, {}, {"message": f"No commit found for the ref {ref}"}
            if path not in commit.files:
                return 404, {}, {"message": "Not Found"}
            raw = commit.files[path]
            return 200, {}, {"type": "file", "encoding": "base64", "path": path, "name": path.rsplit("/", 1)[-1],
                             "sha": blob_sha(raw), "content": base64.encodebytes(raw).decode()}
        if method == "PUT":
            branch = data.get("branch") or "main"
            if branch not in heads:
                return 404, {}, {"message": f"Branch {branch} not found"}
            files = dict(self.commits[heads[branch]].files)
            old = files.get(path)
            if old is not None and not data.get("sha"):
                return 422, {}, {"message": "Invalid request.\n\n\"sha\" wasn't supplied."}
            if old is not None and data["sha"] != blob_sha(old):
                return 409, {}, {"message": f"{path} does not match {data['sha']}"}
            raw = base64.b64decode(data["content"])
            files[path] = raw
            sha = self._commit(repo, branch, files, str(data.get("message", "")), heads[branch])
            return (200 if old is not None else 201), {}, {
                "content": {"path": path, "sha": blob_sha(raw)}, "commit": {"sha": sha}}
        return 405, {}, {"message": "Method not allowed"}

    def _pulls(self, repo: str, method: str, rest: str, query: dict[str, str], data: Any) -> Reply:
        pulls = self.pulls.setdefault(repo, [])
        if rest == "/pulls" and method == "POST":
            if data.get("head") not in self.branches[repo]:
                return 422, {}, {"message": "Validation Failed: head invalid"}
            if any(p.state == "open" and p.head == data["head"] for p in pulls):
                return 422, {}, {"message": f"A pull request already exists for {repo.split('/')[0]}:{data['head']}."}
            pull = Pull(len(pulls) + 1, data["head"], data["base"], data["title"], data.get("body") or "")
            pulls.append(pull)
            return 201, {}, self._pull_json(repo, pull)
        if rest == "/pulls" and method == "GET":
            out = [p for p in pulls if query.get("state", "open") in ("all", p.state)]
            if "head" in query:
                owner, _, branch = query["head"].partition(":")
                out = [p for p in out if owner.lower() == repo.split("/")[0] and p.head == branch]
            if "base" in query:
                out = [p for p in out if p.base == query["base"]]
            return 200, {}, [self._pull_json(repo, p) for p in out]
        number = int(rest.rsplit("/", 1)[1])
        pull = next((p for p in pulls if p.number == number), None)
        if pull is None:
            return 404, {}, {"message": "Not Found"}
        if method == "PATCH":
            pull.title = data.get("title", pull.title)
            pull.body = data.get("body", pull.body)
        return 200, {}, self._pull_json(repo, pull)

    def _pull_json(self, repo: str, p: Pull) -> dict[str, Any]:
        return {"number": p.number, "url": f"{self.url}/repos/{repo}/pulls/{p.number}",
                "html_url": f"https://github.example/{repo}/pull/{p.number}", "state": p.state,
                "title": p.title, "body": p.body, "head": {"ref": p.head}, "base": {"ref": p.base}}

    def _workflow(self, repo: str, method: str, name: str, what: str, data: Any) -> Reply:
        workflow = self.workflows.get(repo, {}).get(name)
        if workflow is None:
            return 404, {}, {"message": "Not Found"}
        if what == "dispatches" and method == "POST":
            conclusion = workflow.outcomes.pop(0) if workflow.outcomes else "success"
            run = Run(next(self._ids), name, str(data.get("ref")), dict(data.get("inputs") or {}),
                      conclusion, workflow.polls_until_done)
            self.runs[run.id] = run
            if workflow.return_run_details and data.get("return_run_details"):
                return 200, {}, {"workflow_run_id": run.id, "run_url": f"{self.url}/repos/{repo}/actions/runs/{run.id}",
                                 "html_url": f"https://github.example/{repo}/actions/runs/{run.id}"}
            return 204, {}, None
        if what == "runs" and method == "GET":
            runs = sorted((r for r in self.runs.values() if r.workflow == name), key=lambda r: -r.id)
            return 200, {}, {"total_count": len(runs), "workflow_runs": [self._run_json(r) for r in runs]}
        return 405, {}, {"message": "Method not allowed"}

    def _run(self, run_id: int) -> Reply:
        run = self.runs.get(run_id)
        if run is None:
            return 404, {}, {"message": "Not Found"}
        if run.conclusion is not None and run.polls_left > 0:
            run.polls_left -= 1
        return 200, {}, self._run_json(run)

    def _run_json(self, run: Run) -> dict[str, Any]:
        done = run.conclusion is not None and run.polls_left <= 0
        return {"id": run.id, "event": "workflow_dispatch", "head_branch": run.ref,
                "status": "completed" if done else "in_progress", "conclusion": run.conclusion if done else None,
                "html_url": f"https://github.example/runs/{run.id}"}
