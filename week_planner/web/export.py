"""Static export: the whole public site as files, at the same paths as the live service.

``export_site(app, outdir)`` starts at ``/`` and follows every same-site link of the pages
and stylesheets (so whatever the pages link to — programme, category and event pages,
feeds, schedule.json/xml, fonts — is written), through the app itself, so the exported
bytes are the live bytes. A path ending in ``/`` is written as ``index.html`` inside it.
Pages that need the live service (forms, signed personal links, health and metrics) are
left out; links to them point at the live service when its address is given
(``live_url``), and are taken out of the pages otherwise, so the copy has no dead end.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from urllib.parse import urljoin, urlsplit

from flask import Flask

from week_planner.web.offline import offline_paths

log = logging.getLogger(__name__)

# Paths only the live service can answer.
LIVE_ONLY = re.compile(r"(^/healthz$|^/metrics$|/remind/|/my/|/unsubscribe|/confirm|/preview|^/search/)")
CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")]+)['\"]?\s*\)")
# A link element of the pages (the templates never nest one in another), and a form.
ANCHOR = re.compile(r'<a\b[^>]*?\bhref="([^"]*)"[^>]*>.*?</a>', re.DOTALL)
FORM = re.compile(r'<form\b[^>]*?\baction="([^"]*)"[^>]*>.*?</form>', re.DOTALL)
EMPTY_PARAGRAPH = re.compile(r"<p\b[^>]*>\s*</p>")


class _Links(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.links.append(value)
            elif name == "srcset" and value:
                self.links.extend(part.strip().split(" ")[0] for part in value.split(","))


@dataclass
class ExportReport:
    written: list[str] = field(default_factory=list)
    failed: dict[str, int] = field(default_factory=dict)  # path → status


def _same_site_paths(base_path: str, body: bytes, content_type: str,
                     site_url: str = "") -> list[str]:
    """Paths of the links in a page or stylesheet that lead to this site: relative ones,
    and absolute ones under ``site_url`` (the BASE_URL feeds and QR codes use)."""
    text = body.decode("utf-8", "replace")
    if content_type.startswith("text/html"):
        parser = _Links()
        parser.feed(text)
        candidates = parser.links
    elif content_type.startswith("text/css"):
        candidates = CSS_URL.findall(text)
    else:
        return []
    paths = []
    site = site_url.rstrip("/")
    for link in candidates:
        if site and link.startswith(site + "/"):
            link = link[len(site):]
        target = urlsplit(urljoin(f"http://export.invalid{base_path}", link))
        if target.scheme != "http" or target.netloc != "export.invalid":
            continue  # another site, webcal:, mailto:, geo:, tel:
        if target.query:
            continue  # the static site has no query strings
        paths.append(target.path)
    return paths


def _live_links(page_path: str, html: str, site_url: str, live_url: str | None) -> str:
    """The page with its links and forms to what only the live service answers (forms,
    personal feeds, the search) pointing at ``live_url``, or taken out (the whole link or
    form) without one."""
    site = site_url.rstrip("/")

    def replace(match: re.Match) -> str:
        href = match.group(1).replace("&amp;", "&")
        local = href[len(site):] if site and href.startswith(site + "/") else href
        target = urlsplit(urljoin(f"http://export.invalid{page_path}", local))
        if target.netloc != "export.invalid" or not LIVE_ONLY.search(target.path):
            return match.group(0)
        if not live_url:
            return ""
        moved = live_url.rstrip("/") + target.path + (f"?{target.query}" if target.query
                                                      else "") + (
            f"#{target.fragment}" if target.fragment else "")
        attribute = "href" if match.group(0).startswith("<a") else "action"
        return match.group(0).replace(f'{attribute}="{match.group(1)}"',
                                      f'{attribute}="{moved.replace("&", "&amp;")}"', 1)

    changed = FORM.sub(replace, ANCHOR.sub(replace, html))
    # A paragraph that held nothing but such a link goes with it.
    return changed if live_url else EMPTY_PARAGRAPH.sub("", changed)


def file_for(path: str) -> PurePosixPath:
    """``/a/`` → ``a/index.html``; ``/a.ics`` → ``a.ics``."""
    relative = path.lstrip("/")
    if relative == "" or relative.endswith("/"):
        relative += "index.html"
    return PurePosixPath(relative)


def export_site(app: Flask, outdir: str | Path, extra_paths: tuple[str, ...] = (),
                live_url: str | None = None) -> ExportReport:
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    client = app.test_client()
    report = ExportReport()
    # The service worker, the manifests' icons and what the worker preloads are linked
    # from no page: listed by the module that serves them.
    queue = ["/", *offline_paths(app), *extra_paths]
    seen = set(queue)
    while queue:
        path = queue.pop(0)
        with client.get(path) as response:
            status, body = response.status_code, response.get_data()
            content_type = response.content_type or ""
        if status != 200:
            report.failed[path] = status
            log.warning("export: %s answered %d", path, status)
            continue
        target = out / file_for(path)
        if out.resolve() not in target.resolve().parents:
            report.failed[path] = 0  # a path that would escape the folder
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if content_type.startswith("text/html"):
            body = _live_links(path, body.decode("utf-8"), app.config["BASE_URL"],
                               live_url).encode("utf-8")
        target.write_bytes(body)
        report.written.append(path)
        for link in _same_site_paths(path, body, content_type, app.config["BASE_URL"]):
            if link not in seen and not LIVE_ONLY.search(link):
                seen.add(link)
                queue.append(link)
    with client.get("/no-such-page-for-export/") as not_found:
        if not_found.status_code == 404:
            (out / "404.html").write_bytes(not_found.get_data())
    return report
