"""Conformance suites for keyturn backends. A backend's tests subclass the suite and
supply factories; the suite holds the one contract every backend must honour. Uses
pytest; imported only by tests."""
