"""Alembic scripts (a package so they ship in wheels)."""
