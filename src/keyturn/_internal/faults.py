"""Test-only fault injection: ``KEYTURN_FAULT_INJECT=kill-after:<point>``.

Lets the invariant tests kill a real ``keyturn`` process (SIGKILL, no cleanup, no
``finally``) at a named stage boundary, exactly as a cancelled runner would. Points:
``created``, ``verified``, ``promote-write`` (store written, not yet recorded),
``promoted``, ``distribute-1`` (after the first target), ``distributed``,
``smoked``, ``rollback-store``, ``rollback-targets``, ``completed``, and for
retirement ``finalize-begun``, ``retire-targets`` (grace entries removed), ``retire-store``
(revoked, not yet recorded). Unset in production: a no-op.
"""

from __future__ import annotations

import os
import signal
import sys


def point(name: str) -> None:
    spec = os.environ.get("KEYTURN_FAULT_INJECT", "")
    if not spec:
        return
    for item in spec.split(","):
        action, _, where = item.partition(":")
        if where == name and action == "kill-after":
            sys.stderr.flush()
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)
