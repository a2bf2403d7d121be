"""Offline use: the service worker, the web app manifests and the page shown offline.

Blueprint ``offline``:

- ``/sw.js`` — the service worker (``templates/sw.js``), at the root so that its scope
  covers every page. It keeps the static files (cache first, in a cache named after their
  version, so a new version of a stylesheet or font gets a new cache) and the last copy
  of each public page and feed a visitor opened (network first: online, nobody sees an
  old programme). It never keeps a personal page or feed, a form, anything with a query
  string or a token, or a response marked ``private`` or ``no-store``.
- ``/manifest.webmanifest`` and ``/<programme>/manifest.webmanifest`` — what a phone
  needs to put the site, or one programme, on its home screen.
- ``/offline.html`` — what the worker shows for a page it has not kept when there is no
  network.

``offline_paths(app)`` lists what the static export must write besides the pages it
finds by following links (the worker, the site's manifest, the offline page and every
file the worker preloads). The template global ``manifest_url()`` is the manifest a page
links; ``offline_script`` says whether the page may carry the script that registers the
worker (the subscription forms run no script at all).
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    has_request_context,
    render_template,
    request,
    url_for,
)

from week_planner.schedule.registry import registry_of

offline = Blueprint("offline", __name__)

# The static files the worker preloads: what the public pages use.
PRECACHED_SUFFIXES = (".css", ".js", ".woff2", ".svg", ".png")
# Paths the worker never keeps, whatever their headers say: personal pages and feeds,
# forms and the links in mail (they carry tokens), previews, the organisers' desk, the
# operators' pages.
NEVER_KEPT = (r"(^/healthz$|^/metrics$|/my/|/remind/|/confirm|/unsubscribe|/preview"
              r"|^/organise(/|$)|^/sw\.js$)")
# Blueprints whose pages run no script (their Content-Security-Policy says script-src
# 'none'): they do not register the worker.
NO_SCRIPT_BLUEPRINTS = frozenset({"remind"})
SITE_NAME = "هفتهٔ تعاون"
THEME_COLOUR = "#0b5c8a"
MANIFEST_TYPE = "application/manifest+json"
# The worker's own policy: it fetches from this site only.
WORKER_POLICY = "default-src 'self'"


# -- what the worker preloads -----------------------------------------------------------

_VERSIONS: dict[tuple, str] = {}
_VERSIONS_LOCK = threading.Lock()


def precached_files(app: Flask) -> list[str]:
    """The static files the worker preloads, as names under the static folder."""
    folder = Path(app.static_folder)
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*")
                  if path.is_file() and path.suffix in PRECACHED_SUFFIXES)


def static_version(app: Flask) -> str:
    """A short hash of the precached files' contents: the static cache's name."""
    folder = Path(app.static_folder)
    names = precached_files(app)
    stats = tuple((name, (folder / name).stat().st_mtime_ns, (folder / name).stat().st_size)
                  for name in names)
    found = _VERSIONS.get(stats)
    if found is None:
        digest = hashlib.sha256()
        for name in names:
            digest.update(name.encode() + b"\0" + (folder / name).read_bytes() + b"\0")
        found = digest.hexdigest()[:12]
        with _VERSIONS_LOCK:
            _VERSIONS.clear()  # one version is current; an edited file makes the next
            _VERSIONS[stats] = found
    return found


def offline_paths(app: Flask) -> list[str]:
    """The paths the static export writes so that the worker works there too."""
    with app.test_request_context(base_url=app.config["BASE_URL"]):
        paths = [url_for("offline.worker"), url_for("offline.site_manifest"),
                 url_for("offline.offline_page")]
        paths += [url_for("static", filename=name) for name in precached_files(app)]
    return paths


# -- routes ------------------------------------------------------------------------------

@offline.route("/sw.js")
def worker():
    app = current_app._get_current_object()
    precache = [url_for("offline.offline_page")]
    precache += [url_for("static", filename=name) for name in precached_files(app)]
    body = render_template(
        "sw.js", version=static_version(app), precache=precache,
        offline_page=url_for("offline.offline_page"),
        static_prefix=app.static_url_path.rstrip("/") + "/", never_kept=NEVER_KEPT)
    response = Response(body, content_type="text/javascript; charset=utf-8")
    # At /sw.js its scope may be the whole site anyway; said explicitly for proxies that
    # serve the site under a prefix.
    response.headers["Service-Worker-Allowed"] = "/"
    # Browsers check the worker for a new version on every visit: revalidate, never keep.
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Content-Security-Policy"] = WORKER_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"  # a script only as a script
    response.add_etag()
    return response.make_conditional(request)


def _manifest(name: str, start_url: str, description: str) -> Response:
    icons = [{"src": url_for("static", filename="favicon.svg"), "sizes": "any",
              "type": "image/svg+xml", "purpose": "any"}]
    icons += [{"src": url_for("static", filename=f"icon-{size}.png"),
               "sizes": f"{size}x{size}", "type": "image/png", "purpose": "any"}
              for size in (192, 512)]
    icons.append({"src": url_for("static", filename="icon-maskable-512.png"),
                  "sizes": "512x512", "type": "image/png", "purpose": "maskable"})
    manifest = {
        "id": start_url, "name": name, "short_name": SITE_NAME, "description": description,
        "lang": "fa", "dir": "rtl", "start_url": start_url, "scope": "/",
        "display": "standalone", "background_color": "#ffffff",
        "theme_color": THEME_COLOUR, "icons": icons,
    }
    body = json.dumps(manifest, ensure_ascii=False, indent=1) + "\n"
    response = Response(body, content_type=MANIFEST_TYPE + "; charset=utf-8")
    response.headers["Cache-Control"] = "public, no-cache"
    response.add_etag()
    return response.make_conditional(request)


@offline.route("/manifest.webmanifest")
def site_manifest():
    return _manifest(SITE_NAME, url_for("directory.index"), "برنامه‌های هفتهٔ تعاون، روز به روز")


@offline.route("/<programme>/manifest.webmanifest")
def programme_manifest(programme: str):
    found = registry_of(current_app).get(programme)
    if found is None or found.draft:
        abort(404)
    return _manifest(found.title, url_for("pages.programme", programme=found.id),
                     f"{found.organiser}، برنامهٔ روز به روز")


@offline.route("/offline.html")
def offline_page():
    response = current_app.make_response(render_template("offline.html"))
    response.headers["X-Robots-Tag"] = "noindex"
    return response


# -- template helpers --------------------------------------------------------------------

@offline.app_template_global()
def manifest_url() -> str:
    """A published programme's pages link its own manifest (the home-screen icon opens
    the programme); every other page the site's."""
    programme_id = (request.view_args or {}).get("programme")
    if programme_id and not request.args:
        found = registry_of(current_app).get(programme_id)
        if found is not None and not found.draft:
            return url_for("offline.programme_manifest", programme=found.id)
    return url_for("offline.site_manifest")


@offline.app_context_processor
def _offline_script() -> dict:
    if not has_request_context():  # mail
        return {}
    return {"offline_script": request.blueprint not in NO_SCRIPT_BLUEPRINTS,
            "theme_colour": THEME_COLOUR}
