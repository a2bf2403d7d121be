"""Settings: defaults, then the environment, then the mapping; the secret key's rules."""

from __future__ import annotations

import threading

import pytest

from week_planner import create_app
from week_planner.config import SETTINGS, ConfigError, load_settings


def test_order_defaults_environment_mapping(tmp_path):
    environ = {"WEEK_PLANNER_BASE_URL": "https://env.example.ir",
               "WEEK_PLANNER_CANCELLED_RETENTION_DAYS": "7",
               "WEEK_PLANNER_INSTANCE_DIR": str(tmp_path)}
    settings = load_settings({"BASE_URL": "https://mapping.example.ir"}, environ)
    assert settings["BASE_URL"] == "https://mapping.example.ir"
    assert settings["CANCELLED_RETENTION_DAYS"] == 7
    assert settings["SCHEDULES_DIR"] == "schedules"
    assert settings["DATABASE_URL"] == f"sqlite:///{tmp_path.resolve()}/week-planner.sqlite3"


def test_every_setting_is_documented():
    for name, (_, _, doc) in SETTINGS.items():
        assert len(doc) > 20, name


def test_secret_key_is_generated_once_and_kept(tmp_path):
    first = load_settings({"INSTANCE_DIR": str(tmp_path)}, {})["SECRET_KEY"]
    second = load_settings({"INSTANCE_DIR": str(tmp_path)}, {})["SECRET_KEY"]
    assert first == second and len(first) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    other = load_settings({"INSTANCE_DIR": str(tmp_path / "other")}, {})["SECRET_KEY"]
    assert other != first


def test_processes_starting_together_agree_on_one_key(tmp_path):
    keys = []
    threads = [threading.Thread(target=lambda: keys.append(
        load_settings({"INSTANCE_DIR": str(tmp_path)}, {})["SECRET_KEY"])) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(keys)) == 1 and keys[0]


@pytest.mark.parametrize("value", ["change-me", "secret", "short"])
def test_placeholder_secret_key_is_refused(tmp_path, value):
    with pytest.raises(ConfigError):
        load_settings({"INSTANCE_DIR": str(tmp_path)}, {"WEEK_PLANNER_SECRET_KEY": value})


def test_channels_file_inside_schedules_is_refused(tmp_path):
    with pytest.raises(ConfigError):
        load_settings({"INSTANCE_DIR": str(tmp_path), "SCHEDULES_DIR": str(tmp_path / "s"),
                       "CHANNELS": str(tmp_path / "s" / "channels.yaml")}, {})


def test_app_factory_starts_no_threads(tmp_path, schedules_dir):
    before = set(threading.enumerate())
    app = create_app({"INSTANCE_DIR": str(tmp_path / "i"), "SCHEDULES_DIR": str(schedules_dir)})
    app.test_client().get("/")
    assert set(threading.enumerate()) == before
