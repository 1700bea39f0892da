"""Lint and structure checks for keyturn's GitHub Actions workflows and composite actions.

Runs the real linters that ship in the test extra (zizmor offline, actionlint, check-jsonschema
with SchemaStore's vendored schemas) over `.github/workflows/*.yml`, `actions/*/action.yml` and
`.github/dependabot.yml`, adds structural hardening checks (inputs through env, pinned actions, permissions, concurrency) that the linters do not make,
proves with deliberately bad fixtures (in tmp_path) that the checks can fail, and runs the
actions' bash entry points with a fake `keyturn` first on PATH to check input validation and argv.

Imports nothing from keyturn: the workflows are tested as the runner would see them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WORKFLOWS = sorted([*REPO.glob(".github/workflows/*.yml"), *REPO.glob(".github/workflows/*.yaml")])
EXAMPLES = sorted(REPO.glob("examples/workflows/*.yml"))
ACTIONS = sorted(REPO.glob("actions/*/action.yml"))
DEPENDABOT = REPO / ".github" / "dependabot.yml"

SHA_PIN = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(/[A-Za-z0-9_./-]+)?@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"#\s*v\d+(\.\d+){0,2}\b")
LOCAL_USES = ("./", "$/")


# --------------------------------------------------------------------------- helpers


def tool(name: str) -> Path:
    """A linter binary installed next to this interpreter (the project's venv)."""
    path = BIN / name
    if not path.exists():
        pytest.fail(
            f"{name} not found next to {sys.executable}: install the test extra (pip install -e '.[test]')"
        )
    return path


def lint_env() -> dict[str, str]:
    """Environment for linters: no GitHub token, so zizmor cannot go online even by accident."""
    env = {k: v for k, v in os.environ.items() if k not in {"GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GH_TOKEN"}}
    env["NO_COLOR"] = "1"
    return env


def run(cmd: list[str | Path], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in cmd], check=False, capture_output=True, text=True, timeout=60, **kw
    )


def zizmor(paths: list[Path], persona: str = "regular") -> subprocess.CompletedProcess[str]:
    return run(
        [
            tool("zizmor"),
            "--offline",
            "--no-progress",
            "--color",
            "never",
            "--strict-collection",
            "--persona",
            persona,
            *paths,
        ],
        env=lint_env(),
        cwd=REPO,
    )


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path}: not a YAML mapping"
    return data


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    on = workflow.get("on", workflow.get(True))  # YAML 1.1: a bare `on` key loads as True
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return {t: None for t in on}
    return dict(on or {})


def steps_of(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(where, step) for every step of a workflow's jobs or of a composite action."""
    out: list[tuple[str, dict[str, Any]]] = []
    for job_id, job in (doc.get("jobs") or {}).items():
        for i, step in enumerate(job.get("steps") or []):
            out.append((f"jobs.{job_id}.steps[{i}]", step))
    for i, step in enumerate((doc.get("runs") or {}).get("steps") or []):
        out.append((f"runs.steps[{i}]", step))
    return out


def check_document(path: Path) -> list[str]:
    """Structural hardening rules for one workflow or action file; returns problems."""
    problems: list[str] = []
    text = path.read_text(encoding="utf-8")
    doc = load(path)
    is_action = path.name in {"action.yml", "action.yaml"}

    for where, step in steps_of(doc):
        script = step.get("run")
        if isinstance(script, str) and "${{" in script:
            problems.append(f"{path.name}: {where}: '${{{{' inside run: (pass it through env:)")
        if script is not None and is_action and step.get("shell") != "bash":
            problems.append(f"{path.name}: {where}: composite run step without shell: bash")
        uses = step.get("uses")
        if isinstance(uses, str) and not uses.startswith(LOCAL_USES) and not SHA_PIN.match(uses):
            problems.append(f"{path.name}: {where}: uses {uses!r} is not pinned to a full commit sha")
        if (
            isinstance(uses, str)
            and uses.startswith("actions/checkout@")
            and (step.get("with") or {}).get("persist-credentials") is not False
        ):
            problems.append(f"{path.name}: {where}: actions/checkout without persist-credentials: false")

    # A pinned `uses:` line carries its human version as a comment.
    for lineno, line in enumerate(text.splitlines(), 1):
        m = re.match(r"^\s*(?:-\s+)?uses:\s*['\"]?([^\s'\"#]+)", line)
        if m and not m.group(1).startswith(LOCAL_USES) and not VERSION_COMMENT.search(line):
            problems.append(f"{path.name}:{lineno}: pinned uses without a '# vX.Y.Z' comment")
    for bad in ("secrets: inherit", "toJSON(secrets)", "ACTIONS_ALLOW_UNSECURE_COMMANDS"):
        if bad.lower() in text.lower():
            problems.append(f"{path.name}: contains {bad!r}")

    if is_action:
        for name, spec in (doc.get("inputs") or {}).items():
            problems += check_input(path.name, name, spec or {})
        return problems

    on = triggers(doc)
    for forbidden in ("pull_request_target", "workflow_run"):
        if forbidden in on:
            problems.append(f"{path.name}: trigger {forbidden} is not allowed")
    if doc.get("permissions") != {}:
        problems.append(f"{path.name}: top-level permissions must be {{}}")
    for lineno, line in permission_lines(text):
        if "# why" not in line:
            problems.append(f"{path.name}:{lineno}: job permission without a '# why' comment")
    for job_id, job in (doc.get("jobs") or {}).items():
        perms = job.get("permissions")
        if not isinstance(perms, dict):
            problems.append(f"{path.name}: job {job_id} needs explicit job-level permissions")
            perms = {}
        # A reusable-workflow call cannot name an environment: the called jobs do (linted themselves).
        if perms.get("id-token") == "write" and not job.get("environment") and "uses" not in job:
            problems.append(f"{path.name}: job {job_id} federates (id-token: write) outside an environment")
        if runs_rotate(job):
            conc = job.get("concurrency")
            if not isinstance(conc, dict) or conc.get("cancel-in-progress") is not False:
                problems.append(
                    f"{path.name}: job {job_id} runs keyturn rotate without "
                    "concurrency.cancel-in-progress: false"
                )
            elif not str(conc.get("group", "")).startswith("keyturn-rotate-"):
                problems.append(
                    f"{path.name}: job {job_id}: concurrency group must be keyturn-rotate-<secret>"
                )
    return problems


def permission_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of each entry inside a job-level `permissions:` block."""
    out: list[tuple[int, str]] = []
    block_indent: int | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if block_indent is not None:
            if not stripped or stripped.startswith("#"):
                continue
            if indent > block_indent:
                out.append((lineno, line))
                continue
            block_indent = None
        if indent > 0 and re.match(r"^permissions:\s*(#.*)?$", stripped):
            block_indent = indent
    return out


def check_input(file: str, name: str, spec: dict[str, Any]) -> list[str]:
    """Every input's description states its default ."""
    desc = str(spec.get("description") or "")
    if not desc:
        return [f"{file}: input {name} has no description"]
    if "default" not in spec:
        if spec.get("required") is True and "required" in desc.lower():
            return []
        return [f"{file}: input {name}: description must say it is required or state its default"]
    default = spec["default"]
    if not isinstance(default, str):
        return [f"{file}: input {name}: default must be a string, got {type(default).__name__}"]
    if "default" not in desc.lower():
        return [f"{file}: input {name}: description does not state its default"]
    shown = "empty" if default == "" else default
    if shown not in desc:
        return [f"{file}: input {name}: description does not state its default {shown!r}"]
    return []


def runs_rotate(job: dict[str, Any]) -> bool:
    for step in job.get("steps") or []:
        if "keyturn rotate" in str(step.get("run") or ""):
            return True
        if str(step.get("uses") or "").rstrip("/").endswith("actions/rotate"):
            return True
    return False


# --------------------------------------------------------------------------- the files exist


def test_expected_files_exist() -> None:
    names = {p.name for p in WORKFLOWS}
    assert {"rotate.yml", "scheduled.yml", "secret-scan.yml", "ci.yml", "reusable-rotate.yml",
            "reusable-scheduled.yml", "reusable-secret-scan.yml"} <= names
    assert {p.name for p in EXAMPLES} == {"rotate.yml", "scheduled.yml", "secret-scan.yml"}
    assert {p.parent.name for p in ACTIONS} >= {"setup", "rotate", "scan", "validate", "update-secrets",
                                                "changelog-pr"}
    for action in ACTIONS:
        assert (action.parent / "README.md").is_file(), f"{action.parent.name} has no README"
    assert DEPENDABOT.is_file()
    codeowners = (REPO / ".github" / "CODEOWNERS").read_text(encoding="utf-8")
    owned = {line.split()[0] for line in codeowners.splitlines() if line.strip() and not line.startswith("#")}
    assert {"/.github/workflows/", "/actions/"} <= owned


# --------------------------------------------------------------------------- real linters


@pytest.mark.parametrize("persona", ["regular", "pedantic"])
def test_zizmor_offline_clean(persona: str) -> None:
    result = zizmor([*WORKFLOWS, *EXAMPLES, *ACTIONS, DEPENDABOT], persona)
    assert result.returncode == 0, result.stdout + result.stderr
    # Every input was really audited (none skipped as invalid).
    for path in [*WORKFLOWS, *EXAMPLES, *ACTIONS]:
        assert f"completed {path}" in result.stderr, result.stderr


def test_actionlint_clean() -> None:
    # Uses ShellCheck on run: blocks when `shellcheck` is on PATH; runs either way.
    result = run([tool("actionlint"), "-no-color", *WORKFLOWS, *EXAMPLES], env=lint_env(), cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("schema", "files"),
    [
        ("vendor.github-workflows", WORKFLOWS + EXAMPLES),
        ("vendor.github-actions", ACTIONS),
        ("vendor.dependabot", [DEPENDABOT]),
    ],
    ids=["workflows", "actions", "dependabot"],
)
def test_check_jsonschema(schema: str, files: list[Path]) -> None:
    assert files
    result = run([tool("check-jsonschema"), "--builtin-schema", schema, *files], env=lint_env(), cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def test_shell_scripts_parse() -> None:
    scripts = sorted(REPO.glob("actions/*/*.sh")) + [REPO / "scripts" / "lock-requirements.sh"]
    for script in scripts:
        assert os.access(script, os.X_OK), f"{script} is not executable"
        result = run(["bash", "-n", script])
        assert result.returncode == 0, f"{script}: {result.stderr}"


def test_shell_scripts_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck not installed (apt-get install shellcheck); bash -n and actionlint still ran")
    scripts = sorted(REPO.glob("actions/*/*.sh")) + [REPO / "scripts" / "lock-requirements.sh"]
    result = run([shellcheck, "--severity=style", *scripts])
    assert result.returncode == 0, result.stdout


# --------------------------------------------------------------------------- structural checks


@pytest.mark.parametrize("path", [*WORKFLOWS, *EXAMPLES, *ACTIONS], ids=lambda p: str(p.relative_to(REPO)))
def test_structure(path: Path) -> None:
    assert check_document(path) == []


def test_actions_run_their_script_by_action_path() -> None:
    for action in ACTIONS:
        doc = load(action)
        assert doc["runs"]["using"] == "composite"
        assert (doc.get("branding") or {}).get("icon") in {"refresh-cw", "lock"}
        for step in doc["runs"]["steps"]:
            if "run" not in step:
                continue
            m = re.fullmatch(r'"\$\{GITHUB_ACTION_PATH\}/([a-z-]+\.sh)"', step["run"].strip())
            assert m, f"{action}: run: should only call a script under GITHUB_ACTION_PATH"
            script = action.parent / m.group(1)
            assert script.is_file() and os.access(script, os.X_OK), script
            for var in re.findall(r"\$\{\{\s*inputs\.([a-z-]+)\s*\}\}", json.dumps(step.get("env") or {})):
                assert var in (doc.get("inputs") or {}), f"{action}: env uses unknown input {var}"


def test_reusable_rotate_workflow_shape() -> None:
    doc = load(REPO / ".github" / "workflows" / "reusable-rotate.yml")
    call = triggers(doc)["workflow_call"]
    assert call["inputs"]["keyturn-ref"]["required"] is True
    assert {"secrets", "mode", "reason", "dry-run", "environment"} <= set(call["inputs"])
    jobs = doc["jobs"]
    assert jobs["rotate"]["needs"] == "plan"
    assert "fromJSON(needs.plan.outputs.matrix)" in jobs["rotate"]["strategy"]["matrix"]
    conc = jobs["rotate"]["concurrency"]
    assert conc == {"group": "keyturn-rotate-${{ matrix.secret }}", "cancel-in-progress": False, "queue": "max"}
    validate = jobs["plan"]["steps"][0]
    assert validate["name"] == "Validate inputs" and "[0-9a-f]{40}" in validate["run"]
    for job in (jobs["plan"], jobs["rotate"]):
        checkouts = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/checkout@")]
        assert checkouts[1]["with"] == {"repository": "${{ inputs.keyturn-repository }}",
                                        "ref": "${{ inputs.keyturn-ref }}", "path": ".keyturn-action",
                                        "persist-credentials": False}
    steps = jobs["rotate"]["steps"]
    uses = [str(s.get("uses", "")) for s in steps]
    assert uses.index("./.keyturn-action/actions/changelog-pr") < uses.index("./.keyturn-action/actions/rotate")
    assert uses[-1] == "./.keyturn-action/actions/changelog-pr" and steps[-1]["if"].startswith("!cancelled()")
    app = next(s for s in steps if "create-github-app-token" in s.get("uses", ""))
    assert app["with"]["permission-secrets"] == "write" and "repositories" in app["with"]
    aws = next(s for s in steps if "configure-aws-credentials" in s.get("uses", ""))
    assert {"role-to-assume", "role-session-name", "allowed-account-ids"} <= set(aws["with"])


def test_no_reusable_workflow_resolves_keyturn_against_the_caller() -> None:
    """In a called workflow `./` and `$/` name the caller's repository: keyturn's actions must come
    from the checkout at keyturn-ref."""
    for path in REPO.glob(".github/workflows/reusable-*.yml"):
        for where, step in steps_of(load(path)):
            uses = str(step.get("uses", ""))
            if uses.startswith(("./", "$/")):
                assert uses.startswith("./.keyturn-action/actions/"), f"{path.name}: {where}: {uses}"


def test_scheduled_runs_unattended_and_emergency_may_wait_for_approval() -> None:
    sched = load(REPO / ".github" / "workflows" / "reusable-scheduled.yml")
    assert triggers(sched)["workflow_call"]["inputs"]["environment"]["default"] == "keyturn-scheduled"
    steps = sched["jobs"]["maintain"]["steps"]
    rotate = next(s for s in steps if str(s.get("uses", "")).endswith("actions/rotate"))
    assert rotate["with"]["due"] == "true"
    assert any("keyturn finalize" in str(s.get("run", "")) for s in steps)
    assert any("keyturn status" in str(s.get("run", "")) for s in steps)
    own = load(REPO / ".github" / "workflows" / "scheduled.yml")
    assert set(triggers(own)) == {"schedule"}
    dispatch = load(REPO / ".github" / "workflows" / "rotate.yml")
    assert set(triggers(dispatch)) == {"workflow_dispatch"}
    env = dispatch["jobs"]["rotate"]["with"]["environment"]
    assert "'production'" in env and "'keyturn-scheduled'" in env and "emergency" in env


def test_secret_scan_gate_shape() -> None:
    own = load(REPO / ".github" / "workflows" / "secret-scan.yml")
    assert set(triggers(own)) == {"pull_request", "push"}
    assert triggers(own)["push"] == {"branches": ["main"]}
    path = REPO / ".github" / "workflows" / "reusable-secret-scan.yml"
    doc = load(path)
    (job,) = doc["jobs"].values()
    assert job["permissions"] == {"contents": "read", "security-events": "write", "actions": "read"}
    assert "environment" not in job
    upload = next(s for s in job["steps"] if "codeql-action/upload-sarif@" in s.get("uses", ""))
    assert upload["if"].startswith("!cancelled() && ")
    assert "github.event.pull_request.head.repo.full_name == github.repository" in upload["if"]
    assert upload["with"]["category"] == "keyturn-secrets"
    scan = next(s for s in job["steps"] if str(s.get("uses", "")).endswith("actions/scan"))
    assert scan["with"]["exclude"] == ".keyturn-action/"
    text = path.read_text(encoding="utf-8")
    for banned in ("aws-actions", "azure/login", "${{ secrets.", "id-token", "boto3", "azure-identity"):
        assert banned not in text
    setup = next(s for s in job["steps"] if str(s.get("uses", "")).endswith("actions/setup"))
    assert setup["with"]["requirements"] == "scan"


def test_reusable_workflows_install_only_the_store_sdks_they_need() -> None:
    """Credentialed jobs pass `stores` (default auto: what keyturn.yml names) and the manifest to
    actions/setup; the scan gate installs the scan lock and names no store."""
    for name in ("reusable-rotate.yml", "reusable-scheduled.yml"):
        doc = load(REPO / ".github" / "workflows" / name)
        stores = triggers(doc)["workflow_call"]["inputs"]["stores"]
        assert stores["default"] == "auto" and stores["type"] == "string"
        setups = [s for _, s in steps_of(doc) if str(s.get("uses", "")).endswith("actions/setup")]
        assert setups
        for step in setups:
            assert step["with"] == {"stores": "${{ inputs.stores }}", "manifest": "${{ inputs.manifest }}"}
    doc = load(REPO / ".github" / "workflows" / "reusable-secret-scan.yml")
    (setup,) = [s for _, s in steps_of(doc) if str(s.get("uses", "")).endswith("actions/setup")]
    assert setup["with"] == {"requirements": "scan"}


def test_examples_call_the_reusable_workflows_pinned_by_sha() -> None:
    for path in EXAMPLES:
        doc = load(path)
        (job,) = doc["jobs"].values()
        uses = job["uses"]
        assert re.fullmatch(r"keyturn/keyturn/\.github/workflows/reusable-[a-z-]+\.yml@[0-9a-f]{40}", uses), uses
        assert job["with"]["keyturn-ref"] == uses.rsplit("@", 1)[1]
        assert (REPO / ".github" / "workflows" / uses.split("/", 2)[2].split("@")[0].removeprefix(
            ".github/workflows/")).is_file()


# --------------------------------------------------------------------------- the checks can fail

BAD_ACTION = """\
name: bad
description: deliberately unsafe fixture
inputs:
  x:
    description: some input
    default: "1"
runs:
  using: composite
  steps:
    - shell: bash
      run: echo ${{ inputs.x }}
    - uses: actions/checkout@v4
"""

BAD_WORKFLOW = """\
name: bad
on:
  pull_request_target:
permissions: write-all
jobs:
  rotate:
    runs-on: ubuntu-latest
    permissions:
      id-token: write
    steps:
      - uses: actions/checkout@de0fac2e4500dabe0009e67214ff5f5447ce83dd
      - run: keyturn rotate -- ${{ github.event.pull_request.title }}
"""


def test_bad_action_is_flagged(tmp_path: Path) -> None:
    action = tmp_path / "bad" / "action.yml"
    action.parent.mkdir()
    action.write_text(BAD_ACTION, encoding="utf-8")

    result = zizmor([action])
    assert result.returncode != 0
    assert "template-injection" in result.stdout
    assert "unpinned-uses" in result.stdout

    problems = "\n".join(check_document(action))
    assert "inside run:" in problems
    assert "not pinned to a full commit sha" in problems
    assert "does not state its default" in problems


def test_bad_workflow_is_flagged(tmp_path: Path) -> None:
    wf = tmp_path / ".github" / "workflows" / "bad.yml"
    wf.parent.mkdir(parents=True)
    wf.write_text(BAD_WORKFLOW, encoding="utf-8")

    result = zizmor([wf])
    assert result.returncode != 0
    assert "dangerous-triggers" in result.stdout

    problems = "\n".join(check_document(wf))
    for expected in (
        "trigger pull_request_target",
        "top-level permissions",
        "inside run:",
        "persist-credentials",
        "'# why' comment",
        "'# vX.Y.Z' comment",
        "outside an environment",
        "without concurrency.cancel-in-progress: false",
    ):
        assert expected in problems, f"{expected!r} not in:\n{problems}"


# --------------------------------------------------------------------------- action scripts


@pytest.fixture
def fake_keyturn(tmp_path: Path) -> tuple[Path, Path]:
    """A `keyturn` executable that records its argv (NUL-separated) and env, then exits 0."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    argv_file = tmp_path / "argv"
    fake = bindir / "keyturn"
    fake.write_text(
        "#!/usr/bin/env bash\n"
        'printf "%s\\0" "$@" > "$FAKE_ARGV_FILE"\n'
        'env | grep -c "^KEYTURN_" > "$FAKE_ARGV_FILE.env" || true\n'
        'exit "${FAKE_EXIT:-0}"\n',
        encoding="utf-8",
    )
    fake.chmod(0o755)
    return bindir, argv_file


def run_action_script(
    action: str,
    inputs: dict[str, str],
    fake: tuple[Path, Path],
    extra_env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> tuple[subprocess.CompletedProcess[str], list[str] | None]:
    bindir, argv_file = fake
    action_path = REPO / "actions" / action
    env = {
        "PATH": f"{bindir}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": str(bindir.parent),
        "LANG": "C.UTF-8",
        "GITHUB_ACTION_PATH": str(action_path),
        "FAKE_ARGV_FILE": str(argv_file),
        **inputs,
        **(extra_env or {}),
    }
    script = next(action_path.glob("*.sh"))
    result = run([script], env=env, cwd=cwd or bindir.parent)
    argv = argv_file.read_bytes().decode().split("\0")[:-1] if argv_file.exists() else None
    return result, argv


def assert_one_line_error(
    result: subprocess.CompletedProcess[str], argv: list[str] | None, needle: str
) -> None:
    assert result.returncode == 2, result
    assert argv is None, "keyturn must not run when validation fails"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("::error ") and needle in lines[0], lines[0]


@pytest.mark.parametrize(
    ("inputs", "needle"),
    [
        ({"KEYTURN_SECRETS": "DB_PASSWORD", "KEYTURN_MODE": "foo"}, "'mode'"),
        ({"KEYTURN_SECRETS": "DB_PASSWORD", "KEYTURN_DRY_RUN": "yes"}, "'dry-run'"),
        ({"KEYTURN_SECRETS": "DB_PASSWORD", "KEYTURN_DRY_RUN": "1"}, "'dry-run'"),
        ({"KEYTURN_DUE": "on"}, "'due'"),
        ({"KEYTURN_SECRETS": "--help"}, "'secrets'"),
        ({"KEYTURN_SECRETS": "DB; touch pwned"}, "'secrets'"),
        ({"KEYTURN_SECRETS": "$(id)"}, "'secrets'"),
        ({"KEYTURN_SECRETS": "../../etc"}, "'secrets'"),
        ({"KEYTURN_SECRETS": "DB_PASSWORD", "KEYTURN_MODE": "emergency"}, "'reason'"),
        ({"KEYTURN_SECRETS": "DB_PASSWORD", "KEYTURN_REASON": "two\nlines"}, "'reason'"),
        ({"KEYTURN_SECRETS": "DB_PASSWORD", "KEYTURN_MANIFEST": "../other.yml"}, "'manifest'"),
        ({"KEYTURN_SECRETS": "DB_PASSWORD", "KEYTURN_MANIFEST": "--debug"}, "'manifest'"),
        ({}, "nothing to rotate"),
    ],
)
def test_rotate_script_rejects_bad_inputs(
    inputs: dict[str, str], needle: str, fake_keyturn: tuple[Path, Path], tmp_path: Path
) -> None:
    result, argv = run_action_script("rotate", inputs, fake_keyturn)
    assert_one_line_error(result, argv, needle)
    assert result.stdout == ""
    assert not (tmp_path / "pwned").exists()


def test_rotate_script_argv(fake_keyturn: tuple[Path, Path]) -> None:
    result, argv = run_action_script(
        "rotate",
        {
            "KEYTURN_SECRETS": "DB_PASSWORD",
            "KEYTURN_MODE": "emergency",
            "KEYTURN_REASON": "x",
            "KEYTURN_DUE": "False",
            "KEYTURN_DRY_RUN": "FALSE",
        },
        fake_keyturn,
    )
    assert result.returncode == 0, result.stderr
    assert argv == [
        "rotate",
        "--manifest",
        "keyturn.yml",
        "--mode",
        "emergency",
        "--reason",
        "x",
        "--",
        "DB_PASSWORD",
    ]
    # The raw inputs are not left for keyturn to re-read: the argv is the single source of truth.
    assert (fake_keyturn[1].parent / "argv.env").read_text().strip() == "0"


def test_rotate_script_argv_due_dry_run_and_data_stays_data(fake_keyturn: tuple[Path, Path]) -> None:
    reason = "leaked in $(id) `uname` ; rm -rf / \"quoted\" 'single'"
    result, argv = run_action_script(
        "rotate",
        {
            "KEYTURN_SECRETS": " db/prod\tAPI_KEY.v2 \n other-one ",
            "KEYTURN_DUE": "TRUE",
            "KEYTURN_DRY_RUN": "True",
            "KEYTURN_REASON": reason,
            "KEYTURN_MANIFEST": "ops/keyturn.yml",
        },
        fake_keyturn,
    )
    assert result.returncode == 0, result.stderr
    assert argv == [
        "rotate",
        "--manifest",
        "ops/keyturn.yml",
        "--due",
        "--dry-run",
        "--mode",
        "scheduled",
        "--reason",
        reason,
        "--",
        "db/prod",
        "API_KEY.v2",
        "other-one",
    ]


def test_rotate_script_due_without_names(fake_keyturn: tuple[Path, Path]) -> None:
    result, argv = run_action_script("rotate", {"KEYTURN_DUE": "true"}, fake_keyturn)
    assert result.returncode == 0, result.stderr
    assert argv == ["rotate", "--manifest", "keyturn.yml", "--due", "--mode", "scheduled"]


def test_rotate_script_passes_keyturn_exit_code(fake_keyturn: tuple[Path, Path]) -> None:
    result, argv = run_action_script("rotate", {"KEYTURN_SECRETS": "DB"}, fake_keyturn, {"FAKE_EXIT": "3"})
    assert result.returncode == 3
    assert argv is not None


def test_rotate_script_without_keyturn_on_path(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result, argv = run_action_script("rotate", {"KEYTURN_SECRETS": "DB"}, (empty, tmp_path / "argv"))
    assert_one_line_error(result, argv, "actions/setup")


def test_validate_script(fake_keyturn: tuple[Path, Path]) -> None:
    result, argv = run_action_script("validate", {"KEYTURN_SECRET": "-x"}, fake_keyturn)
    assert_one_line_error(result, argv, "'secret'")
    result, argv = run_action_script("validate", {"KEYTURN_SECRET": "DB_PASSWORD"}, fake_keyturn)
    assert result.returncode == 0, result.stderr
    assert argv == ["validate", "--manifest", "keyturn.yml", "--", "DB_PASSWORD"]


SARIF_WRITER = """\
#!/usr/bin/env bash
printf "%s\\0" "$@" > "$FAKE_ARGV_FILE"
out=""
while [[ $# -gt 0 ]]; do [[ "$1" == --output ]] && out=$2; shift; done
printf '{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"keyturn"}},"results":[{},{}]}]}' > "$out"
exit "${FAKE_EXIT:-0}"
"""


@pytest.mark.parametrize(
    ("exit_zero", "keyturn_rc", "expected_rc"),
    [("false", "1", 1), ("TRUE", "1", 0), ("true", "2", 2), ("false", "0", 0)],
)
def test_scan_script(
    fake_keyturn: tuple[Path, Path], tmp_path: Path, exit_zero: str, keyturn_rc: str, expected_rc: int
) -> None:
    (fake_keyturn[0] / "keyturn").write_text(SARIF_WRITER, encoding="utf-8")
    outputs = tmp_path / "github_output"
    outputs.touch()
    result, argv = run_action_script(
        "scan",
        {
            "KEYTURN_DIFF_BASE": "0123456789abcdef0123456789abcdef01234567",
            "KEYTURN_EXIT_ZERO": exit_zero,
            "KEYTURN_BASELINE": ".secrets.baseline",
        },
        fake_keyturn,
        {
            "GITHUB_OUTPUT": str(outputs),
            "FAKE_EXIT": keyturn_rc,
            "PATH": f"{fake_keyturn[0]}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin",
        },
    )
    assert result.returncode == expected_rc, result.stderr
    assert argv == [
        "scan",
        "--format",
        "sarif",
        "--output",
        "keyturn.sarif",
        "--diff",
        "0123456789abcdef0123456789abcdef01234567",
        "--baseline",
        ".secrets.baseline",
        "--",
        ".",
    ]
    assert outputs.read_text().splitlines() == ["sarif-file=keyturn.sarif", "findings=2"]


@pytest.mark.parametrize(
    ("inputs", "needle"),
    [
        ({"KEYTURN_DIFF_BASE": "--upload-pack=touch pwned"}, "'diff-base'"),
        ({"KEYTURN_DIFF_BASE": "main..evil"}, "'diff-base'"),
        ({"KEYTURN_SARIF_FILE": "/etc/passwd"}, "'sarif-file'"),
        ({"KEYTURN_SCAN_PATH": "../.."}, "'path'"),
        ({"KEYTURN_EXIT_ZERO": "yes"}, "'exit-zero'"),
        ({"KEYTURN_SCAN_EXCLUDE": "--output=/tmp/x"}, "'exclude'"),
        ({"KEYTURN_SCAN_EXCLUDE": "../outside"}, "'exclude'"),
    ],
)
def test_scan_script_rejects_bad_inputs(
    inputs: dict[str, str], needle: str, fake_keyturn: tuple[Path, Path]
) -> None:
    result, argv = run_action_script("scan", inputs, fake_keyturn)
    assert_one_line_error(result, argv, needle)


def test_scan_script_passes_excludes(fake_keyturn: tuple[Path, Path]) -> None:
    result, argv = run_action_script("scan", {"KEYTURN_SCAN_EXCLUDE": ".keyturn-action/ vendor/*.min.js"},
                                     fake_keyturn)
    assert result.returncode == 0, result.stderr
    assert argv == ["scan", "--format", "sarif", "--output", "keyturn.sarif", "--exclude", ".keyturn-action/",
                    "--exclude", "vendor/*.min.js", "--", "."]


def test_changelog_pr_script_argv_and_retry_on_conflict(fake_keyturn: tuple[Path, Path], tmp_path: Path) -> None:
    result, argv = run_action_script("changelog-pr", {"KEYTURN_FETCH_LOG": "TRUE", "GITHUB_TOKEN": "t"},
                                     fake_keyturn)
    assert result.returncode == 0, result.stderr
    assert argv == ["changelog-pr", "--manifest", "keyturn.yml", "--fetch-log"]
    # exit 3 (the branch moved) is retried; a fourth conflict gives up with 3.
    counter = tmp_path / "calls"
    (fake_keyturn[0] / "keyturn").write_text(
        f'#!/usr/bin/env bash\necho x >> "{counter}"\n[[ $(wc -l < "{counter}") -ge 2 ]] && exit 0\nexit 3\n',
        encoding="utf-8")
    (fake_keyturn[0] / "sleep").write_text("#!/usr/bin/env bash\nexit 0\n", encoding="utf-8")
    (fake_keyturn[0] / "sleep").chmod(0o755)
    result, _ = run_action_script("changelog-pr", {"GITHUB_TOKEN": "t"}, fake_keyturn)
    assert result.returncode == 0 and counter.read_text().count("x") == 2 and "retrying" in result.stderr
    result, argv = run_action_script("changelog-pr", {"GITHUB_TOKEN": ""}, fake_keyturn)
    assert_one_line_error(result, None, "'token'")


def test_update_secrets_script_requires_inputs(fake_keyturn: tuple[Path, Path]) -> None:
    result, argv = run_action_script("update-secrets", {"KEYTURN_SECRETS": "", "KEYTURN_TARGETS": "repo:a/b",
                                                        "GITHUB_TOKEN": "t"}, fake_keyturn)
    assert_one_line_error(result, argv, "'secrets'")


# --------------------------------------------------------------------------- pinned requirements


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_action_requirements_are_hash_pinned_and_complete() -> None:
    text = (REPO / "requirements" / "action.txt").read_text(encoding="utf-8")
    pins: dict[str, str] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        head = block.strip().splitlines()[0] if block.strip() else ""
        if not head or head.startswith("#"):
            continue
        m = re.match(r"^([A-Za-z0-9_.-]+)==([^\s\\;]+)", head)
        assert m, f"not an exact pin: {head!r}"
        assert "--hash=sha256:" in block, f"{m.group(1)} has no hash"
        pins[_norm(m.group(1))] = m.group(2)

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project.get("optional-dependencies", {})
    wanted: list[str] = list(project.get("dependencies", []))

    def expand(extra: str) -> None:
        for req in extras.get(extra, []):
            m = re.match(r"^keyturn\[([^\]]+)\]", req)
            if m:
                for sub in m.group(1).split(","):
                    expand(sub.strip())
            else:
                wanted.append(req)

    expand("all")
    missing = [r for r in wanted if _norm(re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0]) not in pins]
    assert not missing, (
        f"runtime deps missing from requirements/action.txt (run scripts/lock-requirements.sh): {missing}"
    )
    assert {"setuptools", "wheel"} <= set(pins), "the build backend must be pinned too (--no-build-isolation)"


def test_setup_script_installs_only_pinned_code() -> None:
    script = (REPO / "actions" / "setup" / "setup.sh").read_text(encoding="utf-8")
    assert "--require-hashes" in script and "--only-binary :all:" in script
    assert "--no-deps --no-build-isolation" in script
    assert "${RUNNER_TEMP}/keyturn-venv" in script
    assert "PYTHONUTF8=1" in script and "GITHUB_PATH" in script


def test_setup_script_rejects_an_unknown_lock(fake_keyturn: tuple[Path, Path], tmp_path: Path) -> None:
    files = {k: str(tmp_path / k.lower()) for k in ("GITHUB_PATH", "GITHUB_ENV")}
    result, argv = run_action_script("setup", {"KEYTURN_REQUIREMENTS": "everything"}, fake_keyturn,
                                     {"RUNNER_TEMP": str(tmp_path), **files})
    assert_one_line_error(result, argv, "'requirements'")


@pytest.mark.parametrize(
    ("inputs", "needle"),
    [
        ({"KEYTURN_STORES": "vault gcp"}, "'stores'"),
        ({"KEYTURN_STORES": "AWS"}, "'stores'"),
        ({"KEYTURN_STORES": "auto aws"}, "'stores'"),
        ({"KEYTURN_STORES": "none vault"}, "'stores'"),
        ({"KEYTURN_STORES": "aws;touch pwned"}, "'stores'"),
        ({"KEYTURN_STORES": "$(touch pwned)"}, "'stores'"),
        ({"KEYTURN_STORES": "../aws"}, "'stores'"),
        ({"KEYTURN_STORES": "aws", "KEYTURN_REQUIREMENTS": "scan"}, "'stores'"),
        ({"KEYTURN_STORES": "auto", "KEYTURN_MANIFEST": "../keyturn.yml"}, "'manifest'"),
        ({"KEYTURN_STORES": "auto", "KEYTURN_MANIFEST": "--debug"}, "'manifest'"),
        ({"KEYTURN_STORES": "auto", "KEYTURN_MANIFEST": "/etc/keyturn.yml"}, "'manifest'"),
    ],
)
def test_setup_script_rejects_bad_stores(
    inputs: dict[str, str], needle: str, fake_keyturn: tuple[Path, Path], tmp_path: Path
) -> None:
    files = {k: str(tmp_path / k.lower()) for k in ("GITHUB_PATH", "GITHUB_ENV")}
    result, argv = run_action_script("setup", inputs, fake_keyturn, {"RUNNER_TEMP": str(tmp_path), **files})
    assert_one_line_error(result, argv, needle)
    assert not (tmp_path / "keyturn-venv").exists() and not (tmp_path / "pwned").exists()


#: A stand-in interpreter for actions/setup: `-m venv --clear DIR` makes DIR/bin/python (which logs
#: each `-m pip ...` call, one a line, and prints a version for `-c`) and DIR/bin/keyturn (which
#: records its argv and prints $FAKE_STORES, or fails like keyturn with $FAKE_STORES_ERROR).
FAKE_PYTHON = """\
#!/usr/bin/env bash
if [[ "$1 $2" != "-m venv" ]]; then exit 9; fi
bin="${!#}/bin"
mkdir -p "${bin}"
cat >"${bin}/python" <<'PY'
#!/usr/bin/env bash
if [[ "$1 $2" == "-m pip" ]]; then shift 2; printf '%s\\n' "$*" >>"$FAKE_PIP_LOG"; exit 0; fi
if [[ "$1" == -c ]]; then echo 0.1.0; exit 0; fi
exit 9
PY
cat >"${bin}/keyturn" <<'KT'
#!/usr/bin/env bash
printf '%s\\0' "$@" >"$FAKE_ARGV_FILE"
if [[ -n "${FAKE_STORES_ERROR-}" ]]; then printf 'keyturn: error: %s\\n' "$FAKE_STORES_ERROR" >&2; exit 2; fi
printf '%b' "${FAKE_STORES-}"
KT
chmod +x "${bin}/python" "${bin}/keyturn"
"""


def run_setup(tmp_path: Path, inputs: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], list[str],
                                                                   list[str] | None, dict[str, str]]:
    """Run setup.sh with FAKE_PYTHON: (result, pip calls with requirements/ paths shortened,
    keyturn's argv or None, step outputs)."""
    fake_py = tmp_path / "fakepython"
    fake_py.write_text(FAKE_PYTHON, encoding="utf-8")
    fake_py.chmod(0o755)
    files = {k: tmp_path / k.lower() for k in ("GITHUB_PATH", "GITHUB_ENV", "GITHUB_OUTPUT")}
    for f in files.values():
        f.touch()
    pip_log = tmp_path / "pip.log"
    argv_file = tmp_path / "argv"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8", "RUNNER_TEMP": str(tmp_path),
           "GITHUB_ACTION_PATH": str(REPO / "actions" / "setup"), "KEYTURN_PYTHON": str(fake_py),
           "FAKE_PIP_LOG": str(pip_log), "FAKE_ARGV_FILE": str(argv_file),
           **{k: str(v) for k, v in files.items()}, **inputs}
    result = run([REPO / "actions" / "setup" / "setup.sh"], env=env, cwd=tmp_path)
    pips = pip_log.read_text().replace(f"{REPO}/requirements/", "").splitlines() if pip_log.exists() else []
    argv = argv_file.read_bytes().decode().split("\0")[:-1] if argv_file.exists() else None
    outputs = dict(line.split("=", 1) for line in files["GITHUB_OUTPUT"].read_text().splitlines())
    return result, pips, argv, outputs


LOCKED = "install --quiet --require-hashes --only-binary :all: "
BUILD = "install --quiet --no-deps --no-build-isolation "


@pytest.mark.parametrize(
    ("inputs", "first_install", "locks"),
    [
        ({}, "-r action.txt", "action"),
        ({"KEYTURN_REQUIREMENTS": "scan"}, "-r scan.txt", "scan"),
        ({"KEYTURN_STORES": "  "}, "-r action.txt", "action"),
        ({"KEYTURN_STORES": "aws"}, "-r core.txt -r aws.txt", "core aws"),
        ({"KEYTURN_STORES": "azure vault\naws azure"}, "-r core.txt -r azure.txt -r vault.txt -r aws.txt",
         "core azure vault aws"),
        ({"KEYTURN_STORES": "openbao vault"}, "-r core.txt -r vault.txt", "core vault"),
        ({"KEYTURN_STORES": "none"}, "-r core.txt", "core"),
    ],
)
def test_setup_script_installs_the_named_locks(tmp_path: Path, inputs: dict[str, str], first_install: str,
                                               locks: str) -> None:
    result, pips, argv, outputs = run_setup(tmp_path, inputs)
    assert result.returncode == 0, result.stderr
    assert pips == [LOCKED + first_install, BUILD + f"{tmp_path}/keyturn-src"]
    assert argv is None  # keyturn is not asked anything unless stores: auto
    assert outputs["locks"] == locks
    assert f"(requirements: {locks})" in result.stdout


@pytest.mark.parametrize(
    ("printed", "second_install", "locks"),
    [
        ("aws\n", ["-r core.txt -r aws.txt"], "core aws"),
        ("azure\nvault\n", ["-r core.txt -r azure.txt -r vault.txt"], "core azure vault"),
        ("", [], "core"),
    ],
)
def test_setup_script_auto_installs_what_keyturn_manifest_stores_names(
    tmp_path: Path, printed: str, second_install: list[str], locks: str
) -> None:
    result, pips, argv, outputs = run_setup(tmp_path, {"KEYTURN_STORES": "auto", "KEYTURN_MANIFEST": "ops/k.yml",
                                                       "FAKE_STORES": printed})
    assert result.returncode == 0, result.stderr
    # core first (keyturn needs no SDK to read the manifest), then the store locks with it.
    assert pips == [LOCKED + "-r core.txt", BUILD + f"{tmp_path}/keyturn-src",
                    *(LOCKED + s for s in second_install)]
    assert argv == ["manifest", "stores", "--manifest", "ops/k.yml"]
    assert outputs["locks"] == locks


def test_setup_script_auto_fails_in_one_line_when_the_manifest_is_bad(tmp_path: Path) -> None:
    result, pips, argv, outputs = run_setup(tmp_path, {"KEYTURN_STORES": "auto", "FAKE_STORES_ERROR":
                                                       "keyturn.yml:4: stores.first.type: unknown store type"})
    assert result.returncode == 2 and argv is not None
    (line,) = result.stderr.strip().splitlines()
    assert line == ("::error title=keyturn setup::stores: auto could not read the manifest: keyturn.yml:4: "
                    "stores.first.type: unknown store type")
    assert pips == [LOCKED + "-r core.txt", BUILD + f"{tmp_path}/keyturn-src"] and "locks" not in outputs


def test_setup_script_auto_refuses_an_unknown_store_sdk(tmp_path: Path) -> None:
    result, pips, _, _ = run_setup(tmp_path, {"KEYTURN_STORES": "auto", "FAKE_STORES": "aws\n../../evil\n"})
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "has no lock for" in line and "evil" not in line
    assert len(pips) == 2  # nothing installed after core and keyturn


#: First major release of each pinned action that runs on Node 24 (Node 20 leaves hosted runners in 2026).
NODE24_MAJOR = {"actions/checkout": 5, "actions/setup-python": 6, "aws-actions/configure-aws-credentials": 6,
                "azure/login": 3, "actions/create-github-app-token": 3, "github/codeql-action": 4}


def test_pinned_actions_run_on_node24() -> None:
    seen = set()
    for path in [*WORKFLOWS, *EXAMPLES, *ACTIONS]:
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            m = re.match(r"^\s*(?:-\s+)?uses:\s*([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)[^@\s]*@[0-9a-f]{40}\s+#\s*v(\d+)", line)
            if m and m.group(1) in NODE24_MAJOR:
                seen.add(m.group(1))
                assert int(m.group(2)) >= NODE24_MAJOR[m.group(1)], f"{path.name}:{lineno}: {m.group(1)} v{m.group(2)}"
    assert seen == set(NODE24_MAJOR)
