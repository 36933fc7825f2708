"""Alembic revisions, chained by `down_revision`."""
