"""The servers of benchmarks/serving.py: the service as production runs it (gunicorn with
week_planner.gunicorn_hooks, or waitress), the bare Flask baseline (serving_bare.py) and
nginx running docs/deploying.md's recipe over the static export; each a process group of
its own on loopback, stopped by ``Server.stop``."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "schedules" / "khalilabad-1404.yaml"
PROGRAMME = "khalilabad-1404"
CATEGORY = "visit"
PERSONAL_EVENTS = ("peoples-visits", "cooperative-visits", "award-ceremony")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch(url: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


class Server:
    """A server process of this run, in its own process group, stopped by ``stop``."""

    def __init__(self, name: str, command: list[str], port: int, log: Path,
                 env: dict | None = None, cwd: Path | None = None):
        self.name, self.port = name, port
        self.base = f"http://127.0.0.1:{port}"
        self.behind: Server | None = None  # a server this one passes requests to
        self._log = open(log, "wb")
        self.process = subprocess.Popen(command, env=env, cwd=cwd, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def wait_for(self, path: str, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.name} exited with {self.process.returncode}; "
                                 f"see {self._log.name}")
            try:
                if fetch(self.base + path)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"{self.name} did not answer {path} in {seconds} s")

    def cpu_seconds(self) -> float:
        """CPU time used so far by the server's process and its children (the workers)."""
        total = 0.0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(stat.parent.name) == self.process.pid or \
                    int(fields[1]) == self.process.pid:
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total + (self.behind.cpu_seconds() if self.behind else 0.0)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()


def service_env(tmp: Path, name: str, port: int, args, source: Path) -> dict:
    env = {**os.environ, "WEEK_PLANNER_SCHEDULES_DIR": str(tmp / "schedules"),
           "WEEK_PLANNER_INSTANCE_DIR": str(tmp / f"instance-{name}"),
           "WEEK_PLANNER_SECRET_KEY": "a-benchmark-secret-key-not-for-production",
           "WEEK_PLANNER_BASE_URL": f"http://127.0.0.1:{port}",
           "WEEK_PLANNER_BIND": f"127.0.0.1:{port}",
           "WEB_CONCURRENCY": str(args.workers), "WEEK_PLANNER_THREADS": str(args.threads),
           "PYTHONUNBUFFERED": "1"}
    if source != ROOT:
        env["PYTHONPATH"] = str(source) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def start_service(tmp: Path, name: str, source: Path, args) -> Server:
    port = free_port()
    if args.server == "waitress":  # one process, as 'week-planner serve' runs it
        command = [sys.executable, "-m", "waitress", f"--listen=127.0.0.1:{port}",
                   f"--threads={args.threads}", "--call", "week_planner:create_app"]
    else:
        command = [sys.executable, "-m", "gunicorn", "-c",
                   "python:week_planner.gunicorn_hooks", "week_planner:create_app()"]
    return Server(name, command, port, tmp / f"{name}.log",
                  service_env(tmp, name, port, args, source), cwd=source)


def personal_path(server: Server) -> str:
    """A personal feed's path, as the service's own "my programme" page gives it."""
    query = "&".join(f"e={event}" for event in PERSONAL_EVENTS)
    status, _, body = fetch(f"{server.base}/{PROGRAMME}/my/?{query}")
    found = re.search(rf"(/{PROGRAMME}/my/[A-Za-z0-9_.\-]+\.ics)", body.decode("utf-8"))
    if status != 200 or found is None:
        raise SystemExit(f"{server.name}: no personal feed link on its my-programme page")
    return found.group(1)


def requests_of(server: Server) -> dict[str, tuple[str, dict]]:
    """Name → (path, headers) of the requests measured on ``server``."""
    feed = f"/{PROGRAMME}.ics"
    status, headers, _ = fetch(server.base + feed)
    etag = headers.get("ETag") or headers.get("Etag")
    if status != 200 or not etag or fetch(server.base + feed,
                                          {"If-None-Match": etag})[0] != 304:
        raise SystemExit(f"{server.name}: the feed does not answer 304 to its ETag")
    return {"feed": (feed, {}),
            "category feed": (f"/{PROGRAMME}/categories/{CATEGORY}.ics", {}),
            "page": (f"/{PROGRAMME}/", {}),
            "304 (If-None-Match)": (feed, {"If-None-Match": etag}),
            "personal feed": (personal_path(server), {})}


def start_bare(tmp: Path, service: Server, wanted: dict, args, name: str = "bare") -> Server:
    folder = tmp / name
    folder.mkdir()
    index = {}
    for number, (name, (path, headers)) in enumerate(wanted.items()):
        if headers:
            continue
        status, response_headers, body = fetch(service.base + path)
        assert status == 200, (path, status)
        (folder / f"{number}.body").write_bytes(body)
        index[path] = [f"{number}.body", response_headers["Content-Type"]]
    (folder / "index.json").write_text(json.dumps(index), encoding="utf-8")
    port = free_port()
    here = Path(__file__).resolve().parent
    if args.server == "waitress":
        command = [sys.executable, "-m", "waitress", f"--listen=127.0.0.1:{port}",
                   f"--threads={args.threads}", "serving_bare:app"]
    else:
        command = [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}",
                   "-w", str(args.workers), "--threads", str(args.threads), "-k", "gthread",
                   "--access-logfile", "-", "serving_bare:app"]
    return Server("bare Flask", command, port, tmp / f"{name}.log",
                  {**os.environ, "BENCHMARK_BODIES": str(folder)}, cwd=here)


# docs/deploying.md's "nginx serving the static copy, the service behind it", on loopback.
NGINX_CONF = """worker_processes {workers};
pid {tmp}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log {tmp}/nginx-access.log;
    client_body_temp_path {tmp}/nginx-body;
    proxy_temp_path {tmp}/nginx-proxy;
    fastcgi_temp_path {tmp}/nginx-fastcgi;
    uwsgi_temp_path {tmp}/nginx-uwsgi;
    scgi_temp_path {tmp}/nginx-scgi;
    sendfile on;
    server {{
        listen 127.0.0.1:{port};
        root {export};
        index index.html;
        charset utf-8;
        types {{
            text/html html; text/css css; application/javascript js; text/calendar ics;
            application/json json; application/xml xml; application/atom+xml atom;
            image/svg+xml svg; image/png png; font/woff2 woff2;
            application/manifest+json webmanifest;
        }}
        charset_types text/calendar application/json application/xml application/atom+xml;
        location / {{
            error_page 418 = @service;
            if ($args) {{ return 418; }}
            try_files $uri $uri/index.html @service;
            location ~ \\.ics$ {{
                add_header Access-Control-Allow-Origin *;
                try_files $uri @service;
            }}
        }}
        location @service {{
            proxy_pass http://127.0.0.1:{service_port};
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"""


def start_nginx(tmp: Path, args, service: Server) -> Server | None:
    """nginx serving the static export, passing the rest to ``service``; None when nginx
    is not installed."""
    nginx = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)),
        None)
    if nginx is None:
        return None
    export = tmp / "export"
    port = free_port()
    env = service_env(tmp, "export", port, args, ROOT)
    subprocess.run([sys.executable, "-m", "week_planner.cli", "export", str(export)],
                   env=env, check=True, capture_output=True, timeout=600)
    for path in [tmp, *tmp.rglob("*")]:  # nginx's workers may run as another user
        path.chmod(0o755 if path.is_dir() else 0o644)
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(workers=args.workers, tmp=tmp, port=port,
                                      export=export, service_port=service.port),
                    encoding="utf-8")
    return Server("nginx (export)", [nginx, "-p", str(tmp), "-c", str(conf), "-e",
                                      str(tmp / "nginx-error.log"), "-g", "daemon off;"],
                  port, tmp / "nginx.log")


def check_recipe(nginx: Server, service: Server, wanted: dict) -> None:
    """What the copy holds comes from nginx; forms, personal feeds, previews, health and
    what the copy lacks come from the service."""
    def served_by_nginx(path: str) -> bool:
        status, headers, _ = fetch(nginx.base + path)
        return status == 200 and headers.get("Accept-Ranges") == "bytes"  # a file's answer

    for path in (f"/{PROGRAMME}/", f"/{PROGRAMME}.ics", f"/{PROGRAMME}/schedule.json"):
        assert served_by_nginx(path), f"nginx does not serve {path} from the copy"
    personal = wanted["personal feed"][0]
    for path in (personal, f"/{PROGRAMME}/remind/", f"/{PROGRAMME}/?preview=x", "/healthz",
                 f"/{PROGRAMME}/my/"):
        status, headers, body = fetch(nginx.base + path)
        assert status == fetch(service.base + path)[0], f"{path} through nginx: {status}"
        assert not served_by_nginx(path), f"{path} was not passed to the service"
    assert fetch(nginx.base + personal)[2] == fetch(service.base + personal)[2]
    assert fetch(nginx.base + "/no-such-programme.ics")[0] == 404


def nginx_requests(server: Server, wanted: dict) -> dict[str, tuple[str, dict]]:
    found = {}
    for name, (path, headers) in wanted.items():
        if headers:
            etag = fetch(server.base + path)[1].get("ETag")
            headers = {"If-None-Match": etag}
        found[name] = (path, headers)
    return found


def commit_of(source: Path) -> str:
    try:
        head = subprocess.run(["git", "-C", str(source), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(source), "status", "--porcelain",
                                "--untracked-files=no", "--", "week_planner"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        return "?"
    return head + (" + uncommitted changes" if dirty else "")


def checkout(before: str, tmp: Path) -> tuple[Path, str]:
    """(folder, label) of the copy to serve as "before": a folder as it is, or a commit of
    this repository extracted into ``tmp``."""
    if Path(before).is_dir():
        folder = Path(before).resolve()
        return folder, f"{folder} at {commit_of(folder)}"
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", before],
                            capture_output=True, text=True, check=True).stdout.strip()
    folder = tmp / "before-source"
    folder.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder, f"{before} = {commit}"
