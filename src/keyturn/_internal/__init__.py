"""Helpers with no stability promise. Import from here only inside keyturn."""
