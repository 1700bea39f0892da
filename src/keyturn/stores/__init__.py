"""Secret stores: one :class:`~keyturn.stores.base.Store` protocol, one module per
backend (``vault`` now), built from manifest entries by :mod:`keyturn.stores.registry`.
A store never imports a target, a check or the engine."""
