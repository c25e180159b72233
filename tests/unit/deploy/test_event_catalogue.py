"""The event catalogue in docs/ is generated from the contracts: it must be current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_docs_events_md_matches_the_contracts() -> None:
    generated = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "event_catalogue.py")], capture_output=True, text=True, check=True
    ).stdout
    committed = (ROOT / "docs" / "events.md").read_text()
    assert committed.strip() == generated.strip(), "run: .venv/bin/python scripts/event_catalogue.py > docs/events.md"
