"""Shared by the bad-input batteries: a snapshot of what is stored must not change."""

from __future__ import annotations


def assert_unchanged(before: dict, after: dict) -> None:
    """`before`/`after`: {"files": ..., "rows": {table: rows}} (plus anything else compared whole)."""
    assert after["files"] == before["files"]
    for table, rows in before["rows"].items():
        assert after["rows"][table] == rows, f"table {table} changed"
    assert after == before
