"""Load YAML into plain Python objects while remembering where every key sits.

PyYAML silently lets a later duplicate key win; a manifest must refuse that, so this
loader composes nodes and builds dicts itself. The result is ``(data, positions)``
where ``positions`` maps a key path tuple (``("secrets", "DB", "targets", 0)``) to the
1-based line of that node. Mapping keys are always the strings the author wrote
(``yes:`` is the key ``"yes"``, not ``True``). Merge keys (``<<``), recursive aliases,
non-standard tags on collections, alias bombs and nesting deeper than
:data:`MAX_DEPTH` (which would exhaust Python's stack) are refused with a line number.
"""

from __future__ import annotations

from typing import Any

import yaml


class YamlError(ValueError):
    """``line`` is 1-based (or None); ``path`` is the key path where it happened, if known."""

    def __init__(self, message: str, line: int | None, path: tuple[str | int, ...] | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.path = path


Path = tuple[str | int, ...]

#: More built nodes than this means alias expansion ("billion laughs"), not a manifest.
MAX_NODES = 100_000
#: Deeper nesting is no manifest; PyYAML's composer and :func:`load_with_positions` recurse
#: once per level, so a 3000-deep ``[[[...]]]`` would otherwise end in RecursionError.
MAX_DEPTH = 64
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"


def _error_line(exc: yaml.MarkedYAMLError, text: str) -> int | None:
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return None
    # "<stream end>" sits after the last line: point at where the construct began.
    if exc.problem_mark is not None and exc.problem_mark.index >= len(text.rstrip()) and exc.context_mark:
        mark = exc.context_mark
    return int(mark.line) + 1


def _problem(exc: yaml.MarkedYAMLError, line: int | None) -> str:
    problem = exc.problem or str(exc).splitlines()[0]
    if "\\t" in problem or "tab character" in problem:
        problem += " (indent with spaces, not tabs)"
    if exc.context and not exc.context.startswith("while "):
        problem = f"{exc.context}, {problem}"  # "expected a single document…, but found another"
    elif exc.context and exc.context_mark is not None and exc.context_mark.line + 1 != line:
        problem += f" ({exc.context} started on line {exc.context_mark.line + 1})"
    return problem


def _tag(tag: str) -> str:
    return "!!" + tag.removeprefix("tag:yaml.org,2002:") if tag.startswith("tag:yaml.org,2002:") else tag


def _too_deep(line: int | None, path: Path | None = None) -> YamlError:
    return YamlError(f"nesting deeper than {MAX_DEPTH} levels is not supported", line, path)


class _DepthLimitedLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no types
    """A SafeLoader whose (recursive) composer refuses nesting deeper than MAX_DEPTH."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _too_deep(int(self.peek_event().start_mark.line) + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_with_positions(text: str) -> tuple[Any, dict[Path, int]]:
    try:
        node = yaml.compose(text, Loader=_DepthLimitedLoader)
    except yaml.MarkedYAMLError as exc:
        line = _error_line(exc, text)
        raise YamlError(f"invalid YAML: {_problem(exc, line)}", line) from None
    except yaml.reader.ReaderError as exc:  # a control character or bad encoding
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        raise YamlError(
            f"invalid YAML: {exc.reason} (character #x{exc.character:04x})"
            if isinstance(exc.character, int)
            else f"invalid YAML: {exc.reason}",
            line,
        ) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"invalid YAML: {exc}", None) from None
    positions: dict[Path, int] = {}
    if node is None:
        return None, positions
    constructor = yaml.SafeLoader("")  # used only to construct scalars
    active: set[int] = set()  # collection nodes on the current path (alias cycles)
    built = 0

    def build(n: yaml.Node, path: Path) -> Any:
        nonlocal built
        built += 1
        line = n.start_mark.line + 1
        if built > MAX_NODES:
            raise YamlError(f"more than {MAX_NODES} nodes (alias expansion?)", line, path)
        positions.setdefault(path, line)
        if len(path) > MAX_DEPTH:  # aliases can nest deeper than the text does
            raise _too_deep(line, path[:MAX_DEPTH])
        if isinstance(n, (yaml.MappingNode, yaml.SequenceNode)):
            if id(n) in active:
                raise YamlError("recursive alias", line, path)
            if n.tag not in (_MAP, _SEQ):
                raise YamlError(f"unsupported YAML tag {_tag(n.tag)!r}", line, path)
            active.add(id(n))
            try:
                return (
                    _mapping(n, path)
                    if isinstance(n, yaml.MappingNode)
                    else [build(item, path + (i,)) for i, item in enumerate(n.value)]
                )
            finally:
                active.discard(id(n))
        try:
            return constructor.construct_object(n, deep=True)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
            problem = getattr(exc, "problem", None) or exc.__class__.__name__
            raise YamlError(f"cannot read {n.value!r} as {_tag(n.tag)}: {problem}", line, path) from None

    def _mapping(n: yaml.MappingNode, path: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in n.value:
            key_line = key_node.start_mark.line + 1
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise YamlError("YAML merge key '<<' is not supported: write the keys out", key_line, path)
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlError("mapping keys must be plain scalars", key_line, path)
            key = str(key_node.value)
            if key in out:
                first = positions.get(path + (key,), "?")
                raise YamlError(
                    f"duplicate key {key!r} (first defined on line {first})", key_line, path + (key,)
                )
            positions[path + (key,)] = key_line
            out[key] = build(value_node, path + (key,))
            positions[path + (key,)] = key_line
        return out

    return build(node, ()), positions
