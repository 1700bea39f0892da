"""Run a composite action's steps the way the runner does, without a runner.

For each step of ``actions/<name>/action.yml``: the step's ``env:`` is evaluated (only
``${{ inputs.* }}`` and ``${{ github.token }}`` — what our actions use; anything else is
refused, so a new expression cannot slip through untested), ``GITHUB_OUTPUT``,
``GITHUB_ENV``, ``GITHUB_STEP_SUMMARY`` and ``GITHUB_ACTION_PATH`` point at fresh files
and the action's folder, ``run:`` is executed by ``bash -e`` like ``shell: bash``, and
``::add-mask::`` commands are collected from stdout and stderr (the runner reads both) and
removed from the visible log. Step outputs are parsed from the ``GITHUB_OUTPUT`` file
(``name=value`` and ``name<<DELIM`` forms) and the action's ``outputs:`` are resolved from
``steps.<id>.outputs.<name>``. Test-only.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
_EXPR = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")
_MASK = re.compile(r"^::add-mask::(.*)$", re.M)


@dataclass
class ActionRun:
    returncode: int
    log: str  # stdout + stderr as the job log would show it (mask commands removed)
    masks: list[str]
    outputs: dict[str, str]
    summary: str
    env_file: str
    step_outputs: dict[str, dict[str, str]] = field(default_factory=dict)

    def visible(self) -> list[str]:
        """Everything a reader of the run could see: log, outputs, summary."""
        return [self.log, self.summary, *self.outputs.values()]


def parse_file_commands(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            body: list[str] = []
            i += 1
            while i < len(lines) and lines[i] != delim:
                body.append(lines[i])
                i += 1
            out[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
        i += 1
    return out


def _evaluate(text: str, inputs: dict[str, str], token: str) -> str:
    def sub(m: re.Match[str]) -> str:
        expr = m.group(1)
        if expr.startswith("inputs."):
            return inputs.get(expr.removeprefix("inputs."), "")
        if expr == "github.token":
            return token
        raise AssertionError(f"harness does not evaluate ${{{{ {expr} }}}}")

    return _EXPR.sub(sub, text)


def keyturn_bin(tmp: Path) -> Path:
    """A PATH folder whose ``keyturn`` and ``python`` are this interpreter with src/ on the path."""
    bindir = tmp / "keyturn-bin"
    bindir.mkdir(exist_ok=True)
    wrapper = bindir / "keyturn"
    wrapper.write_text(f'#!/usr/bin/env bash\nexec "{sys.executable}" -m keyturn "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    py = bindir / "python"
    py.write_text(f'#!/usr/bin/env bash\nexec "{sys.executable}" "$@"\n', encoding="utf-8")
    py.chmod(0o755)
    return bindir


def run_action(name: str, inputs: dict[str, str], *, workspace: Path, env: dict[str, str] | None = None,
               token: str = "") -> ActionRun:
    action_dir = REPO / "actions" / name
    doc: dict[str, Any] = yaml.safe_load((action_dir / "action.yml").read_text(encoding="utf-8"))
    declared = doc.get("inputs") or {}
    unknown = set(inputs) - set(declared)
    assert not unknown, f"{name}: unknown inputs {unknown}"
    values = {k: str(spec.get("default", "")) for k, spec in declared.items()}
    for key, spec in declared.items():
        values[key] = _evaluate(values[key], {}, token)
        if spec.get("required") and key not in inputs:
            raise AssertionError(f"{name}: required input {key} missing")
    values.update(inputs)
    runner = workspace.parent / f"runner-{name}"
    runner.mkdir(exist_ok=True)
    files = {k: runner / k.lower() for k in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_STEP_SUMMARY")}
    for f in files.values():
        f.write_text("", encoding="utf-8")
    bindir = keyturn_bin(runner)
    base_env = {
        "PATH": f"{bindir}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": str(runner),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(REPO / "src"),
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": str(workspace),
        "RUNNER_TEMP": str(runner),
        **{k: str(v) for k, v in files.items()},
        **(env or {}),
    }
    log, masks = "", []
    step_outputs: dict[str, dict[str, str]] = {}
    code = 0
    for i, step in enumerate(doc["runs"]["steps"]):
        assert step.get("shell") == "bash" and "run" in step, f"{name}: step {i} is not a bash run step"
        step_env = {k: _evaluate(str(v), values, token) for k, v in (step.get("env") or {}).items()}
        files["GITHUB_OUTPUT"].write_text("", encoding="utf-8")
        proc = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=workspace, capture_output=True, text=True,
                              timeout=120, env={**base_env, **step_env, "GITHUB_ACTION_PATH": str(action_dir)})
        for stream in (proc.stdout, proc.stderr):
            masks += _MASK.findall(stream)
            log += _MASK.sub("", stream)
        step_outputs[str(step.get("id", i))] = parse_file_commands(files["GITHUB_OUTPUT"].read_text("utf-8"))
        code = proc.returncode
        if code:
            break
    outputs: dict[str, str] = {}
    for key, spec in (doc.get("outputs") or {}).items():
        m = re.fullmatch(r"\$\{\{\s*steps\.([\w-]+)\.outputs\.([\w-]+)\s*\}\}", str(spec["value"]))
        assert m, f"{name}: output {key} is not a step output"
        outputs[key] = step_outputs.get(m.group(1), {}).get(m.group(2), "")
    return ActionRun(code, log, masks, outputs, files["GITHUB_STEP_SUMMARY"].read_text("utf-8"),
                     files["GITHUB_ENV"].read_text("utf-8"), step_outputs)
