"""Manifest check entries (``validate:`` / ``smoke:``) → Check objects."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from keyturn.manifest import (
    AwsStsCheckConfig,
    CommandCheckConfig,
    GitHubWorkflowCheckConfig,
    HttpCheckConfig,
    VaultTokenCheckConfig,
)
from keyturn.validators.base import Check

#: check config type → the optional-dependency extra holding the SDK it calls (checks not
#: listed need nothing beyond keyturn's core and GitHub dependencies).
EXTRAS: dict[type[Any], str] = {AwsStsCheckConfig: "aws", VaultTokenCheckConfig: "vault"}


def build_check(config: Any, base_dir: Path, environ: Mapping[str, str] | None = None) -> Check:
    """``environ`` (default ``os.environ`` at run time) feeds GITHUB_*, AWS_* and VAULT_* defaults."""
    if isinstance(config, CommandCheckConfig):
        from keyturn.validators.command import CommandCheck

        return CommandCheck(
            list(config.command),
            timeout=config.timeout.total_seconds(),
            env=dict(config.env),
            pass_env=list(config.pass_env),
            cwd=str(base_dir),
        )
    if isinstance(config, HttpCheckConfig):
        from keyturn.validators.http import HttpCheck

        spec = config.http
        verify: bool | str = str(base_dir / spec.ca_cert) if spec.ca_cert else True
        return HttpCheck(
            spec.url,
            method=spec.method,
            headers=dict(spec.headers),
            body=spec.body,
            expect_status=spec.expect_status,
            timeout=spec.timeout.total_seconds(),
            verify=verify,
        )
    if isinstance(config, GitHubWorkflowCheckConfig):
        from keyturn.validators.github_workflow import GitHubWorkflowCheck

        wf = config.github_workflow
        return GitHubWorkflowCheck(wf.repository, wf.workflow, ref=wf.ref, inputs=dict(wf.inputs),
                                   timeout=wf.timeout.total_seconds(),
                                   poll_interval=wf.poll_interval.total_seconds(), token_env=wf.token_env,
                                   environ=environ)
    if isinstance(config, AwsStsCheckConfig):
        from keyturn.validators.aws_sts import AwsStsCheck

        sts = config.aws_sts
        return AwsStsCheck(region=sts.region, endpoint_url=sts.endpoint_url,
                           access_key_id_field=sts.access_key_id_field,
                           secret_access_key_field=sts.secret_access_key_field,
                           expect_account=sts.expect_account, timeout=sts.timeout.total_seconds(), environ=environ)
    if isinstance(config, VaultTokenCheckConfig):
        from keyturn.validators.vault_token import VaultTokenCheck

        vt = config.vault_token
        return VaultTokenCheck(address=vt.address, namespace=vt.namespace,
                               verify=str(base_dir / vt.ca_cert) if vt.ca_cert else True,
                               expect_policies=list(vt.expect_policies), timeout=vt.timeout.total_seconds(),
                               environ=environ)
    raise TypeError(f"unknown check config {type(config).__name__}")
