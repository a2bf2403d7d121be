"""How long the changelog takes: the sentences, the Atom bytes, a first request after an
edit (sync, read, render) and a repeat request served from memory.

The sample programme is edited 200 times (the taxi parade moved back and forth) so the
history holds about 200 changes besides the publication.

Run: python benchmarks/changes.py   (prints figures; asserts nothing)
"""

from __future__ import annotations

import datetime as dt
import shutil
import statistics
import sys
import tempfile
import time
import zoneinfo
from pathlib import Path

from week_planner import create_app, revision_store, store
from week_planner.publish import changes

zoneinfo.reset_tzpath(to=[])  # PyPI's tzdata, as in the tests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import median_ms  # noqa: E402

SAMPLE = ROOT / "schedules" / "khalilabad-1404.yaml"
PROGRAMME = "khalilabad-1404"
EDITS = 200


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        schedules = folder / "schedules"
        schedules.mkdir()
        path = schedules / SAMPLE.name
        shutil.copy(SAMPLE, path)
        now = [dt.datetime(2025, 8, 1, tzinfo=dt.timezone.utc)]
        app = create_app({"SCHEDULES_DIR": str(schedules), "INSTANCE_DIR": str(folder / "i"),
                          "RELOAD_INTERVAL": 0, "SECRET_KEY": "benchmark-secret-key-0123456789",
                          "CLOCK": lambda: now[0]})
        client = app.test_client()
        client.get(f"/{PROGRAMME}/changes.atom")
        text = SAMPLE.read_text(encoding="utf-8")
        original = '    date: 1404-06-15\n    start: "16:00"'
        edit_ms = []
        for number in range(EDITS):
            minute = "30" if number % 2 == 0 else "00"
            path.write_text(text.replace(original, original.replace("16:00", f"16:{minute}")),
                            encoding="utf-8")
            now[0] += dt.timedelta(minutes=10)
            start = time.perf_counter()
            response = client.get(f"/{PROGRAMME}/changes/")
            edit_ms.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200

        engine = store.app_engine(app)
        revisions = revision_store.load_revisions(engine, PROGRAMME)
        history = revision_store.event_history(engine, PROGRAMME)
        print(f"history rows: {len(history)}")
        reading = median_ms(lambda: revision_store.event_history(engine, PROGRAMME), 20)
        print(f"read history: {reading:.2f} ms")
        print("sentences (change_entries): "
              f"{median_ms(lambda: changes.change_entries(PROGRAMME, revisions.programme, history), 20):.2f} ms")
        entries = changes.change_entries(PROGRAMME, revisions.programme, history)
        info = changes.AtomInfo(PROGRAMME, "t", "o", "https://x/f", "https://x/p", "https://x/",
                                "https://x/e/")
        print(f"Atom bytes: {median_ms(lambda: changes.atom_feed(info, entries, now[0]), 20):.2f} ms")
        print(f"edit + page request (load, sync, read, render), median of {EDITS}: "
              f"{statistics.median(edit_ms):.2f} ms")
        print("repeat page request, from memory: "
              f"{median_ms(lambda: client.get(f'/{PROGRAMME}/changes/'), 50):.2f} ms")
        client.get(f"/{PROGRAMME}/changes.atom")
        print("repeat Atom request, from memory: "
              f"{median_ms(lambda: client.get(f'/{PROGRAMME}/changes.atom'), 50):.2f} ms")


if __name__ == "__main__":
    main()
