"""Canary: a value written to GitHub targets appears in no output, log, report or error text."""

from __future__ import annotations

import logging

import pytest

from keyturn.errors import TargetFailed
from keyturn.targets.github import GitHubOrgSecretTarget, GitHubRepoSecretTarget
from keyturn.values import derived_forms
from tests.github.conftest import entry

CANARY = "canary-Zq9!vX7/+kP2=wL5&hR8"


def test_canary_value_appears_nowhere(fake, session, caplog, capfd):
    caplog.set_level(logging.DEBUG)  # includes PyGithub's and urllib3's debug logging
    fake.inject(r"/secrets/CANARY$", 502, times=1, method="PUT")
    fake.inject(r"/secrets/CANARY$", 429, times=1, method="PUT", headers={"retry-after": "0"})
    entries = [entry("CANARY", CANARY)]
    texts: list[str] = []
    for target in (
        GitHubRepoSecretTarget(session, "acme/api"),
        GitHubRepoSecretTarget(session, "acme/api", environment="production"),
        GitHubOrgSecretTarget(session, "acme", visibility="all"),
    ):
        report = target.write(entries)
        texts += [repr(report), str(report.details), repr(target), repr(entries)]
    fake.inject(r"/secrets/CANARY$", 500, times=None, method="PUT")
    for target in (
        GitHubRepoSecretTarget(session, "acme/worker"),
        GitHubRepoSecretTarget(session, "acme/gone"),
    ):
        with pytest.raises(TargetFailed) as info:
            target.write(entries)
        texts += [str(info.value), repr(info.value), str(info.value.__cause__)]
    out, err = capfd.readouterr()
    texts += [out, err, caplog.text] + [repr(r.__dict__) for r in caplog.records]
    assert fake.value("acme/api", "CANARY") == CANARY  # it did arrive
    blob = "\n".join(texts)
    for form in derived_forms(CANARY):
        assert form not in blob
