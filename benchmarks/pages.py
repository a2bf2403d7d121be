"""How long the public pages take: rendering a programme page, answering it from memory
(web/prepared.py), answering a repeat visit with 304, and the page's weight on the wire.

Run: python benchmarks/pages.py   (prints figures; asserts nothing)
"""

from __future__ import annotations

import datetime as dt
import gzip
import shutil
import statistics
import sys
import tempfile
import zoneinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from week_planner import create_app
from week_planner.web.pages import page_cache
from week_planner.web.prepared import prepared_responses

zoneinfo.reset_tzpath(to=[])  # PyPI's tzdata, as in the tests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import samples_ms  # noqa: E402

SAMPLE = ROOT / "schedules" / "khalilabad-1404.yaml"
STATIC = ROOT / "week_planner" / "static"
NOW = dt.datetime(2025, 9, 6, 10, 0, tzinfo=ZoneInfo("Asia/Tehran"))
PAGE = "/khalilabad-1404/"


def report(name: str, samples: list[float]) -> None:
    print(f"{name:<44} median {statistics.median(samples):7.2f} ms   "
          f"min {min(samples):7.2f} ms   ({len(samples)} runs)")


def main() -> None:
    folder = Path(tempfile.mkdtemp())
    try:
        (folder / "schedules").mkdir()
        shutil.copy2(SAMPLE, folder / "schedules")  # old mtime: applied at once
        app = create_app({"SCHEDULES_DIR": str(folder / "schedules"),
                          "INSTANCE_DIR": str(folder / "instance"), "RELOAD_INTERVAL": 60,
                          "CLOCK": lambda: NOW})
        client = app.test_client()
        first = client.get(PAGE)
        cache, prepared = page_cache(app), prepared_responses(app)

        def cold():
            cache.clear()
            prepared.clear()
            client.get(PAGE).close()

        report("programme page, rendered", samples_ms(cold, 50))
        report("programme page, from memory", samples_ms(lambda: client.get(PAGE).close(), 200))
        etag = client.get(PAGE).headers["ETag"]
        report("repeat visit (If-None-Match → 304)",
               samples_ms(lambda: client.get(PAGE, headers={"If-None-Match": etag}).close(), 200))
        report("event page, from memory",
               samples_ms(lambda: client.get(PAGE + "events/peoples-visits/").close(), 200))

        body = first.get_data()
        print(f"programme page: {len(body) / 1024:.1f} KiB, "
              f"{len(gzip.compress(body)) / 1024:.1f} KiB gzipped")
        for name in ("site.css", "print.css", "now.js", "fonts/Vazirmatn-Regular.woff2",
                     "fonts/Vazirmatn-Bold.woff2"):
            data = (STATIC / name).read_bytes()
            print(f"  {name:<34} {len(data) / 1024:6.1f} KiB"
                  + ("" if name.endswith("woff2") else
                     f"  ({len(gzip.compress(data)) / 1024:.1f} KiB gzipped)"))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
