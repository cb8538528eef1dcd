"""Proof that a migrated config runs like the legacy script."""
