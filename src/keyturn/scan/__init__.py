"""Secret scanning: detect-secrets' engine behind a fast prefilter, plus modern detectors.

Layout: :mod:`.detectors` / :mod:`.finders` / :mod:`.generic` / :mod:`.stock` (what to find),
:mod:`.filters` (what is not a secret), :mod:`.prefilter` (Hyperscan candidate lines),
:mod:`.engine` (one file), :mod:`.files` and :mod:`.runner` (many files, process pool),
:mod:`.gitmodes` (``--diff``/``--staged``), :mod:`.history` / :mod:`.blobs` (``--history``
and the commits of a ``--diff`` range), :mod:`.baseline` (detect-secrets baselines),
:mod:`.live` (live-secret link), :mod:`.fingerprints` (value-free fingerprints),
:mod:`.safetext` (untrusted names in output), :mod:`.sarif` / :mod:`.report` (outputs),
:mod:`.api` and :mod:`.cli`. Nothing here imports stores, targets or cloud SDKs; importing this
package imports nothing heavy.
"""

from __future__ import annotations

__all__: list[str] = []
