"""The sharded path of the reusable rotation workflow (promote → distribute per shard → finish)
and the rotate action's `until` / `shard` / `shard-targets` inputs. zizmor and actionlint run
over these files in tests/test_workflows.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_workflows import REPO, assert_one_line_error, fake_keyturn, load, run_action_script, triggers

__all__ = ["fake_keyturn"]  # the fixture, imported for the tests below

WORKFLOW = REPO / ".github" / "workflows" / "reusable-rotate.yml"


def _rotate_step(job: dict) -> dict:  # type: ignore[type-arg]
    return next(s for s in job["steps"] if s.get("uses") == "./.keyturn-action/actions/rotate")


def test_sharded_jobs_run_in_three_phases() -> None:
    doc = load(WORKFLOW)
    jobs = doc["jobs"]
    assert triggers(doc)["workflow_call"]["inputs"]["shard-targets"]["default"] == 0
    assert "inputs.shard-targets == 0 || inputs.dry-run" in jobs["rotate"]["if"]
    promote, dist, finish = jobs["promote"], jobs["distribute"], jobs["finish"]
    assert promote["needs"] == "plan" and dist["needs"] == ["plan", "promote"]
    assert finish["needs"] == ["plan", "promote", "distribute"]
    assert "needs.promote.result == 'success'" in finish["if"] and finish["if"].startswith("!cancelled()")
    for job in (promote, dist, finish):
        assert "inputs.shard-targets != 0 && !inputs.dry-run" in job["if"]
        assert job["concurrency"]["cancel-in-progress"] is False
        assert job["strategy"]["fail-fast"] is False
    assert promote["strategy"]["matrix"] == finish["strategy"]["matrix"] == \
        "${{ fromJSON(needs.plan.outputs.matrix) }}"
    assert dist["strategy"]["matrix"] == "${{ fromJSON(needs.plan.outputs.shard-matrix) }}"
    # one secret's phases 1 and 3 share the secret's group; each shard has a group of its own
    assert promote["concurrency"]["group"] == finish["concurrency"]["group"] == "keyturn-rotate-${{ matrix.secret }}"
    assert dist["concurrency"]["group"] == "keyturn-rotate-${{ matrix.secret }}-shard-${{ matrix.shard }}"
    assert _rotate_step(promote)["with"]["until"] == "promoted"
    assert _rotate_step(promote)["with"]["shard-targets"] == "${{ inputs.shard-targets }}"
    assert _rotate_step(dist)["with"]["shard"] == "${{ matrix.shard }}"
    assert not {"until", "shard", "shard-targets"} & set(_rotate_step(finish)["with"])
    for job in (dist,):  # every shard job mints its own App token
        assert any("create-github-app-token" in str(s.get("uses", "")) for s in job["steps"])
    assert "shard-matrix" in jobs["plan"]["outputs"]
    plan_run = next(s for s in jobs["plan"]["steps"] if s.get("id") == "plan")
    assert plan_run["env"]["KEYTURN_SHARD_TARGETS"] == "${{ inputs.shard-targets }}"
    assert "${{" not in plan_run["run"]


def test_rotate_script_sharded_argv(fake_keyturn: tuple[Path, Path]) -> None:
    result, argv = run_action_script("rotate", {"KEYTURN_SECRETS": "DB", "KEYTURN_UNTIL": "promoted",
                                                "KEYTURN_SHARD_TARGETS": "4", "KEYTURN_REASON": "r"}, fake_keyturn)
    assert result.returncode == 0, result.stderr
    assert argv == ["rotate", "--manifest", "keyturn.yml", "--mode", "scheduled", "--reason", "r",
                    "--until", "promoted", "--shard-targets", "4", "--", "DB"]
    result, argv = run_action_script("rotate", {"KEYTURN_SECRETS": "DB", "KEYTURN_SHARD": "2/4",
                                                "KEYTURN_REASON": "r"}, fake_keyturn)
    assert result.returncode == 0, result.stderr
    assert argv == ["rotate", "--manifest", "keyturn.yml", "--mode", "scheduled", "--shard", "2/4", "--", "DB"]


@pytest.mark.parametrize(("inputs", "needle"), [
    ({"KEYTURN_SECRETS": "DB", "KEYTURN_UNTIL": "distributed"}, "'until'"),
    ({"KEYTURN_SECRETS": "DB", "KEYTURN_SHARD": "2"}, "'shard'"),
    ({"KEYTURN_SECRETS": "DB", "KEYTURN_SHARD": "2/3; id"}, "'shard'"),
    ({"KEYTURN_SECRETS": "DB", "KEYTURN_SHARD": "0/3"}, "'shard'"),
    ({"KEYTURN_SECRETS": "DB", "KEYTURN_SHARD_TARGETS": "-1"}, "'shard-targets'"),
    ({"KEYTURN_SECRETS": "DB OTHER", "KEYTURN_SHARD": "1/2"}, "exactly one secret"),
    ({"KEYTURN_DUE": "true", "KEYTURN_UNTIL": "promoted"}, "exactly one secret"),
])
def test_rotate_script_rejects_bad_shard_inputs(inputs: dict[str, str], needle: str,
                                                fake_keyturn: tuple[Path, Path]) -> None:
    result, argv = run_action_script("rotate", inputs, fake_keyturn)
    assert_one_line_error(result, argv, needle)
