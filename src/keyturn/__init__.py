"""keyturn: rotate secrets from GitHub Actions.

Public modules live at ``keyturn.*``; helpers with no stability promise live under
``keyturn._internal``. Importing this package imports no cloud SDK.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
