"""Targets: where rotated values are written (files, GitHub secrets, ...).

One :class:`~keyturn.targets.base.Target` protocol, one module per backend, built
from manifest entries through the explicit registry in :mod:`keyturn.targets.registry`.
A target never imports a store.
"""
