"""The writer engine of a SQLite file leaves WAL checkpoints to a thread of its own (`dropship_shared.wal_checkpoints`):
its commits do not copy pages into the database file, the thread does, the WAL still starts over past the writer's
own bound, the thread ends with the engine, and what was committed survives a kill with the WAL not yet copied."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, LargeBinary, MetaData, Table, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from dropship_shared import wal_checkpoints
from dropship_shared.db import create_engine

metadata = MetaData()
blobs = Table("blobs", metadata, Column("id", Integer, primary_key=True), Column("data", LargeBinary))
PAGE = 4096
ROW = b"x" * 3000  # about one page a row


async def writer(path: Path) -> AsyncEngine:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    return engine


async def write_pages(engine: AsyncEngine, transactions: int, rows: int) -> None:
    for _ in range(transactions):
        async with engine.begin() as connection:
            await connection.execute(insert(blobs), [{"data": ROW} for _ in range(rows)])


def wal_pages(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size // PAGE if wal.exists() else 0


def database_pages(path: Path) -> int:
    return path.stat().st_size // PAGE


async def test_the_writers_commits_leave_the_checkpoints_to_the_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wal_checkpoints, "CHECKPOINT_EVERY_SECONDS", 3600.0)  # the thread idle
    path = tmp_path / "orders.db"
    engine = await writer(path)
    await write_pages(engine, transactions=6, rows=300)  # 1,800 pages: SQLite's own default checkpoints at 1,000
    assert database_pages(path) < 50  # nothing copied by the commits
    assert wal_pages(path) > 1_800
    await engine.dispose()


async def test_the_thread_copies_the_committed_pages_into_the_database_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wal_checkpoints, "CHECKPOINT_EVERY_SECONDS", 0.05)
    path = tmp_path / "orders.db"
    engine = await writer(path)
    await write_pages(engine, transactions=2, rows=300)
    deadline = time.monotonic() + 10
    while database_pages(path) < 600 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert database_pages(path) >= 600
    await engine.dispose()


async def test_the_wal_starts_over_past_the_writers_own_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wal_checkpoints, "CHECKPOINT_EVERY_SECONDS", 3600.0)
    monkeypatch.setattr(wal_checkpoints, "WRITER_CHECKPOINT_PAGES", 200)
    path = tmp_path / "orders.db"
    engine = await writer(path)
    await write_pages(engine, transactions=20, rows=100)  # 2,000 pages
    assert wal_pages(path) < 200 + 2 * 100 + 20  # the bound, the transaction that passed it and the next
    assert database_pages(path) > 1_500
    await engine.dispose()


async def test_the_thread_ends_with_the_engine(tmp_path: Path) -> None:
    def checkpointers() -> list[threading.Thread]:
        return [thread for thread in threading.enumerate() if thread.name.startswith("wal-checkpoints")]

    before = len(checkpointers())
    engine = await writer(tmp_path / "orders.db")
    assert len(checkpointers()) == before + 1
    await engine.dispose()
    assert len(checkpointers()) == before


def test_commits_survive_a_kill_with_the_wal_not_yet_copied(tmp_path: Path) -> None:
    path = tmp_path / "orders.db"
    script = textwrap.dedent(
        f"""
        import asyncio, os, signal, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from dropship_shared import wal_checkpoints
        wal_checkpoints.CHECKPOINT_EVERY_SECONDS = 3600.0
        import test_wal_checkpoints as here

        async def main():
            engine = await here.writer(here.Path({str(path)!r}))
            await here.write_pages(engine, transactions=5, rows=100)
            os.kill(os.getpid(), signal.SIGKILL)

        asyncio.run(main())
        """
    )
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert killed.returncode == -9, killed.stderr
    assert wal_pages(path) > 500  # the commits were in the WAL alone
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT count(*), min(length(data)) FROM blobs").fetchone() == (500, len(ROW))
