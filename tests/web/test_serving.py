"""The real servers as subprocesses: ``week-planner serve`` (waitress, one process) and
gunicorn with two workers, each watching the schedules folder."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parents[2] / "schedules" / "khalilabad-1404.yaml"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_until_up(url: str, process: subprocess.Popen, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}: "
                                 f"{process.stdout.read().decode(errors='replace')}")
        try:
            if get(url, 1)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer in {seconds} s")


@pytest.fixture
def site(tmp_path):
    folder = tmp_path / "schedules"
    folder.mkdir()
    shutil.copy(SAMPLE, folder / SAMPLE.name)
    env = {**os.environ, "WEEK_PLANNER_SCHEDULES_DIR": str(folder),
           "WEEK_PLANNER_INSTANCE_DIR": str(tmp_path / "instance"), "PYTHONUNBUFFERED": "1"}
    return folder, env


def stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output.decode(errors="replace")


def version_of(base: str) -> str:
    status, body = get(f"{base}/healthz")
    assert status == 200
    return json.loads(body)["programmes"]["khalilabad-1404"]["version"]


def edit_and_wait(folder: Path, base: str, old_version: str, requests: int) -> float:
    path = folder / SAMPLE.name
    path.write_text(path.read_text(encoding="utf-8").replace('"16:00"', '"16:30"', 1),
                    encoding="utf-8")
    started = time.monotonic()
    while time.monotonic() - started < 10:
        # Every answer (from whichever worker) must show the new version.
        if all(version_of(base) != old_version for _ in range(requests)):
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError("the edit was not applied")


def test_week_planner_serve_answers_and_reloads(site):
    folder, env = site
    env = {**env, "WEEK_PLANNER_RELOAD_INTERVAL": "3600"}  # only the watcher can notice
    env.pop("WEEK_PLANNER_BASE_URL", None)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "week_planner.cli", "serve", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/healthz", process)
        assert get(f"{base}/")[0] == 200
        # no WEEK_PLANNER_BASE_URL: the feed links point where the service really is
        status, page = get(f"{base}/khalilabad-1404/")
        assert f"http://localhost:{port}/khalilabad-1404.ics".encode() in page
        before = version_of(base)
        elapsed = edit_and_wait(folder, base, before, 1)
        assert elapsed < 2.0
    finally:
        output = stop(process)
    assert "GET /healthz 200" in output  # one log line per request


def test_gunicorn_workers_each_watch_the_folder(site):
    folder, env = site
    port = free_port()
    env = {**env, "WEEK_PLANNER_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "2",
           "WEEK_PLANNER_RELOAD_INTERVAL": "3600"}  # only the watchers can notice
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:week_planner.gunicorn_hooks",
         "week_planner:create_app()"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/healthz", process)
        before = version_of(base)
        elapsed = edit_and_wait(folder, base, before, 10)
        assert elapsed < 2.0
    finally:
        stop(process)


def test_serve_demo_shows_a_week_around_today_without_touching_the_schedules_folder(site):
    # What scripts/run starts: the sample (an ended week) and, beside it, a demonstration
    # programme with an event happening now, served from the instance folder.
    folder, env = site
    env.pop("WEEK_PLANNER_BASE_URL", None)
    # As scripts/run serves it: changes settle for 2 s, the sample is a file checked out
    # long ago, and the demonstration programme, written whole just before the service
    # starts, is there from the first page as well.
    env["WEEK_PLANNER_SCHEDULE_SETTLE_SECONDS"] = "2"
    long_ago = time.time() - 86400
    os.utime(folder / SAMPLE.name, (long_ago, long_ago))
    before = sorted(path.name for path in folder.iterdir())
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "week_planner.cli", "serve", "--demo", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/healthz", process)
        status, page = get(f"{base}/demo-week/")
        assert status == 200
        text = page.decode("utf-8")
        assert "نمونهٔ نمایشی" in text and "اکنون" in text
        assert "بازدید از نمایشگاه محصولات تعاونی‌ها" in text
        status, remind = get(f"{base}/demo-week/events/soon-talk/remind/")
        assert status == 200 and "<form" in remind.decode("utf-8")
        assert get(f"{base}/khalilabad-1404/")[0] == 200
        health = json.loads(get(f"{base}/healthz")[1])
        assert health["load_errors"] == [] and "demo-week" in health["programmes"]
    finally:
        output = stop(process)
    assert sorted(path.name for path in folder.iterdir()) == before
    assert f"http://localhost:{port}/demo-week/" in output
