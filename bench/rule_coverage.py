"""Print the provider coverage table of keyturn's rule pack (``src/keyturn/scan/rules/*.toml``).

One row per provider file: the provider, its rule ids, how a token is recognised
(``prefix`` = a distinctive literal the prefilter keys on; ``prefix+checksum``;
``context`` = a documented shape that counts only next to the provider's name), and how
many positive / negative examples the tests run. Also the detectors implemented in Python
(``keyturn.scan.detectors``, ``.stock``, ``.generic``), which are not rule files.

Usage::

    .venv/bin/python bench/rule_coverage.py > /tmp/coverage.md
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from keyturn.scan.detectors import BUILTIN  # noqa: E402
from keyturn.scan.generic import GENERIC  # noqa: E402
from keyturn.scan.rulepack import load_rules  # noqa: E402
from keyturn.scan.stock import stock_detectors  # noqa: E402


def main() -> int:
    rules = load_rules()
    by_file: dict[str, list] = defaultdict(list)
    for r in rules:
        by_file[r.source].append(r)
    kinds: dict[str, int] = defaultdict(int)
    rows = []
    for source in sorted(by_file, key=lambda s: by_file[s][0].provider.lower()):
        rs = by_file[source]
        how = sorted({("context" if r.context else "prefix") + ("+checksum" if r.checksum else "") for r in rs})
        for h in how:
            kinds[h] += 1
        rows.append("| %s | %s | %s | %d / %d |" % (
            rs[0].provider, ", ".join("`%s`" % r.id for r in rs), ", ".join(how),
            sum(len(r.examples) for r in rs), sum(len(r.negative_examples) for r in rs)))
    print("%d provider files, %d rules (%s); %d positive and %d negative examples.\n" % (
        len(by_file), len(rules), ", ".join("%s: %d providers" % kv for kv in sorted(kinds.items())),
        sum(len(r.examples) for r in rules), sum(len(r.negative_examples) for r in rules)))
    print("| provider | rules | recognised by | examples (+ / −) |")
    print("|---|---|---|---:|")
    print("\n".join(rows))
    py = [*BUILTIN, GENERIC, *stock_detectors()]
    print("\nDetectors in Python (not rule files): " + ", ".join("`%s`" % d.id for d in py) + ".")
    return 0


if __name__ == "__main__":
    sys.exit(main())
