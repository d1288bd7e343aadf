"""A scheduled task for tests: records each run (schedule name, the run it was scheduled for, process)."""

from __future__ import annotations

import os

from django.db import connection

TABLE = "test_schedule_probe"


def create_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (name text NOT NULL, run_at text NOT NULL, pid int)")


def drop_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {TABLE}")


def record(name: str, scheduled_for: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} (name, run_at, pid) VALUES (%s, %s, %s)", [name, scheduled_for, os.getpid()]
        )


def runs() -> list[tuple[str, str, int]]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT name, run_at, pid FROM {TABLE} ORDER BY name, run_at")
        return cursor.fetchall()
