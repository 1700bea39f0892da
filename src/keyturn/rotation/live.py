"""Live values of managed secrets (CURRENT, and PREVIOUS while in grace), for the
scanner's live-secret link. Values are returned as SecretValue and only ever compared
by keyed fingerprint by the caller."""

from __future__ import annotations

import os

from keyturn.manifest import load_manifest
from keyturn.rotation.context import Progress, Runtime
from keyturn.values import SecretValue


def live_values(manifest_path: str) -> list[tuple[str, str, SecretValue]]:
    rt = Runtime(load_manifest(manifest_path), dict(os.environ), Progress(quiet=True))
    out: list[tuple[str, str, SecretValue]] = []
    for name in rt.manifest.model.secrets:
        from keyturn.rotation.planning import load_doc

        store = rt.store_for(name)
        ref = rt.ref(name)
        state, doc = load_doc(rt, name)
        if state.exists and state.current:
            out.append((name, "CURRENT", store.read(ref, state.current)))
        live = set(store.live_versions(ref)) if doc.versions else set()
        for tracked in doc.versions:
            if tracked.version != state.current and tracked.version in live:
                label = "PREVIOUS" if tracked.role == "previous" else "NOT YET REVOKED"
                out.append((name, label, store.read(ref, tracked.version)))
    return out
