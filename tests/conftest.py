"""Shared fixtures: paths to the test data, an app on a temporary instance folder."""

from __future__ import annotations

import shutil
import zoneinfo
from pathlib import Path

import pytest

# Timezone rules come from PyPI's tzdata, never from the machine, so results (and golden
# files) are the same everywhere.
zoneinfo.reset_tzpath(to=[])

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SAMPLE = ROOT / "schedules" / "khalilabad-1404.yaml"


@pytest.fixture
def schedules_dir(tmp_path: Path) -> Path:
    """A schedules folder holding a copy of the sample programme."""
    folder = tmp_path / "schedules"
    folder.mkdir()
    shutil.copy(SAMPLE, folder / SAMPLE.name)
    return folder


@pytest.fixture
def app(tmp_path: Path, schedules_dir: Path):
    from week_planner import create_app
    return create_app({
        "TESTING": True,
        "SCHEDULES_DIR": str(schedules_dir),
        "INSTANCE_DIR": str(tmp_path / "instance"),
        "RELOAD_INTERVAL": 0,
        "BASE_URL": "https://hafte.example.ir",
    })


@pytest.fixture
def client(app):
    return app.test_client()
