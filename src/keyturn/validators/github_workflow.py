"""``github-workflow`` check: dispatch a consumer's workflow and wait for that run's conclusion.

After the new value is distributed, keyturn dispatches a named ``on: workflow_dispatch``
workflow in a consumer repository (e.g. a smoke job that reads the rotated secret and
calls the service), finds *that* run (GitHub's ``return_run_details``; otherwise the
newest dispatch run that did not exist before), polls it until it completes or the
timeout passes, and passes only on conclusion ``success``. A failure, a cancellation or
the timeout fails the check, so the rotation rolls back. The value is never sent: the
consumer reads its own secret. The token (``token_env``, default ``GITHUB_TOKEN`` or
a GitHub App) needs ``actions: write`` on the consumer repository. Imports the GitHub plumbing only; never a
store, target or the engine.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from keyturn.errors import KeyturnError
from keyturn.validators.base import CheckResult
from keyturn.values import SecretValue

if TYPE_CHECKING:
    from pathlib import Path

    from keyturn.validators.github_workflow_config import GitHubWorkflowCheckConfig


class GitHubWorkflowCheck:
    def __init__(
        self,
        repository: str,
        workflow: str,
        *,
        ref: str = "main",
        inputs: Mapping[str, str] | None = None,
        timeout: float = 900,
        poll_interval: float = 10,
        token_env: str | None = None,
        environ: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.repository, self.workflow, self.ref = repository, workflow, ref
        self.inputs = dict(inputs or {})
        self.timeout, self.poll_interval = float(timeout), float(poll_interval)
        self._environ = environ
        self.token_env = token_env
        self._sleep, self._clock = sleep, clock

    @property
    def label(self) -> str:
        return f"github-workflow {self.repository}/{self.workflow}@{self.ref}"

    def run(self, secret_name: str, value: SecretValue) -> CheckResult:
        started = self._clock()
        try:
            ok, detail = self._dispatch_and_wait(started)
        except KeyturnError as exc:  # one line naming the call (and a missing permission)
            ok, detail = False, str(exc)
        return CheckResult(ok, self.label, detail, round(self._clock() - started, 3))

    def _dispatch_and_wait(self, started: float) -> tuple[bool, str]:
        from keyturn._internal.github_client import GitHubSession
        from keyturn._internal.github_repo import RepoClient

        env = dict(os.environ if self._environ is None else self._environ)
        if self.token_env:
            token = env.get(self.token_env, "")
            if not token:
                return False, f"{self.token_env} is empty: it must hold a token with actions: write on {self.repository}"
            env = {k: v for k, v in env.items() if not k.startswith("KEYTURN_GITHUB_APP_")}
            env["GITHUB_TOKEN"] = token
        client = RepoClient(GitHubSession.from_env(env), self.repository)
        before = {int(r["id"]) for r in client.workflow_runs(self.workflow, self.ref)}
        run_id = client.dispatch(self.workflow, self.ref, self.inputs)
        while run_id is None:
            fresh = sorted(int(r["id"]) for r in client.workflow_runs(self.workflow, self.ref)
                           if int(r["id"]) not in before)
            if fresh:
                run_id = fresh[-1]
                break
            if not self._wait(started):
                return False, f"timed out after {self.timeout:g}s: the dispatched run never appeared"
        while True:
            run = client.run(run_id)
            if run.get("status") == "completed":
                conclusion = str(run.get("conclusion") or "unknown")
                where = f"run {run_id} ({run.get('html_url', '')})".replace(" ()", "")
                return conclusion == "success", f"{where}: {conclusion}"
            if not self._wait(started):
                return False, (f"timed out after {self.timeout:g}s waiting for run {run_id} "
                               f"(status {run.get('status', 'unknown')})")

    def _wait(self, started: float) -> bool:
        left = self.timeout - (self._clock() - started)
        if left <= 0:
            return False
        self._sleep(min(self.poll_interval, left))
        return True


def build(config: GitHubWorkflowCheckConfig, base_dir: Path,
          environ: Mapping[str, str] | None = None) -> GitHubWorkflowCheck:
    """The registry's builder for ``- github-workflow:`` entries."""
    wf = config.github_workflow
    return GitHubWorkflowCheck(wf.repository, wf.workflow, ref=wf.ref, inputs=dict(wf.inputs),
                               timeout=wf.timeout.total_seconds(), poll_interval=wf.poll_interval.total_seconds(),
                               token_env=wf.token_env, environ=environ)
