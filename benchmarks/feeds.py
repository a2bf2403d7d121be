"""How long the feeds take: the VTIMEZONE, building a feed, and serving it from memory.

Run: python benchmarks/feeds.py   (prints figures; asserts nothing)
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
import tempfile
import time
import zoneinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from week_planner import create_app, revision_store
from week_planner.publish import feeds
from week_planner.publish.feed_service import feed_service
from week_planner.schedule.loading import load_file

zoneinfo.reset_tzpath(to=[])  # PyPI's tzdata, as in the tests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import icalendar  # noqa: E402
from timing import median_ms  # noqa: E402

SAMPLE = ROOT / "schedules" / "khalilabad-1404.yaml"
NOW = dt.datetime(2025, 8, 20, tzinfo=dt.timezone.utc)


def main() -> None:
    tehran = ZoneInfo("Asia/Tehran")
    print(f"icalendar Timezone.from_tzinfo(Asia/Tehran), whole history: "
          f"{median_ms(lambda: icalendar.Timezone.from_tzinfo(tehran), 20):.2f} ms")
    print(f"feeds.vtimezone(Asia/Tehran, 2019), uncached: "
          f"{median_ms(lambda: feeds.vtimezone.__wrapped__('Asia/Tehran', 2019, 2019), 20):.2f} ms")
    print(f"feeds.vtimezone(Asia/Tehran, 2019), cached: "
          f"{median_ms(lambda: feeds.vtimezone('Asia/Tehran', 2019, 2019), 1000) * 1000:.2f} µs")

    programme = load_file(SAMPLE).programme
    snapshots = feeds.occurrence_snapshots(programme)
    revisions = [revision_store.Revision(
            programme.id, key, snapshot["event"], 0, snapshot, False,
                                NOW, NOW) for key, snapshot in snapshots.items()]
    meta = feeds.programme_snapshot(programme)
    info = feeds.FeedInfo(programme.title, programme.description, "https://x/p.ics",
                          "https://x/p/")

    def build() -> bytes:
        entries = feeds.select_entries(revisions, feeds.Selection(), NOW,
                                       dt.timedelta(days=30))
        return feeds.build_feed(info, meta, entries, programme_id=programme.id,
                                base_url="https://x", current_phase="before")

    print(f"build the sample's whole feed ({len(revisions)} VEVENTs, "
          f"{len(build())} bytes): {median_ms(build, 50):.2f} ms")

    with tempfile.TemporaryDirectory() as folder:
        schedules = Path(folder) / "schedules"
        schedules.mkdir()
        shutil.copy2(SAMPLE, schedules / SAMPLE.name)  # old mtime: applied at once
        app = create_app({"SCHEDULES_DIR": str(schedules),
                          "INSTANCE_DIR": str(Path(folder) / "instance"),
                          "RELOAD_INTERVAL": 1.0, "CLOCK": lambda: NOW,
                          "SECRET_KEY": "a-benchmark-secret-key-of-length"})
        client = app.test_client()
        start = time.perf_counter()
        client.get("/khalilabad-1404.ics")
        print(f"first request (load, store sync, build): "
              f"{(time.perf_counter() - start) * 1000:.1f} ms")
        builds = feed_service(app).builds
        print(f"later requests, served from memory: "
              f"{median_ms(lambda: client.get('/khalilabad-1404.ics'), 200):.3f} ms "
              f"(feeds built meanwhile: {feed_service(app).builds - builds})")
        etag = client.get("/khalilabad-1404.ics").headers["ETag"]

        def revalidate():
            client.get("/khalilabad-1404.ics", headers={"If-None-Match": etag})

        print(f"304 answer to If-None-Match: {median_ms(revalidate, 200):.3f} ms")


if __name__ == "__main__":
    main()
