"""Load YAML into plain Python objects while remembering where every key sits.

PyYAML silently lets a later duplicate key win; a manifest must refuse that, so this
loader composes nodes and builds dicts itself. The result is ``(data, positions)``
where ``positions`` maps a key path tuple (``("secrets", "DB", "targets", 0)``) to the
1-based line of that node.
"""

from __future__ import annotations

from typing import Any

import yaml


class YamlError(ValueError):
    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


Path = tuple[str | int, ...]


def load_with_positions(text: str) -> tuple[Any, dict[Path, int]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise YamlError(f"invalid YAML: {exc.problem or exc}", line) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"invalid YAML: {exc}", None) from None
    positions: dict[Path, int] = {}
    if node is None:
        return None, positions
    constructor = yaml.SafeLoader("")  # used only to construct scalars

    def build(n: yaml.Node, path: Path) -> Any:
        positions[path] = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in n.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise YamlError("YAML merge keys (<<) are not supported", key_node.start_mark.line + 1)
                key = constructor.construct_object(key_node, deep=True)
                if isinstance(key, (list, dict)):
                    raise YamlError("mapping keys must be plain scalars", key_node.start_mark.line + 1)
                if key in out:
                    first = positions.get(path + (key,), "?")
                    raise YamlError(
                        f"duplicate key {key!r} (first defined on line {first})",
                        key_node.start_mark.line + 1,
                    )
                positions[path + (key,)] = key_node.start_mark.line + 1
                out[key] = build(value_node, path + (key,))
                positions[path + (key,)] = key_node.start_mark.line + 1
            return out
        if isinstance(n, yaml.SequenceNode):
            return [build(item, path + (i,)) for i, item in enumerate(n.value)]
        return constructor.construct_object(n, deep=True)

    return build(node, ()), positions
