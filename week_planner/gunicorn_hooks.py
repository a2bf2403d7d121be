"""gunicorn settings for several web workers: each worker watches the schedules folder.

    gunicorn -c python:week_planner.gunicorn_hooks 'week_planner:create_app()'

The watcher starts in each worker after it has loaded the application (also with
``--preload``, where the app was made before the fork), never in the master and never in
``create_app``. Reminders are sent by separate ``week-planner scheduler`` processes.
"""

from __future__ import annotations

import os

from week_planner.schedule.registry import registry_of
from week_planner.schedule.watching import start_watching

bind = os.environ.get("WEEK_PLANNER_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("WEEK_PLANNER_THREADS", "4"))
accesslog = "-"


def post_worker_init(worker) -> None:
    app = worker.wsgi
    registry = registry_of(app)
    # Workers started together check the folder from different places, each reading what
    # the others checked from instance/kept/: n workers' first start checks each file
    # about once, not n times.
    registry.first_look_from = ((worker.age - 1) % worker.cfg.workers) / worker.cfg.workers
    app.extensions["week_planner.watcher"] = start_watching(registry)
