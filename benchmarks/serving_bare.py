"""The baseline of benchmarks/serving.py: a bare Flask app answering the recorded bytes of
each path with its Content-Type, nothing else (no ETag, no hooks, no database).

``BENCHMARK_BODIES`` names a folder holding ``index.json`` (path → [file name, content
type]) and the files. Served by gunicorn with the service's own settings:

    BENCHMARK_BODIES=… gunicorn --chdir benchmarks serving_bare:app
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from flask import Flask, Response, abort

FOLDER = Path(os.environ["BENCHMARK_BODIES"])
BODIES = {path: ((FOLDER / name).read_bytes(), content_type) for path, (name, content_type)
          in json.loads((FOLDER / "index.json").read_text(encoding="utf-8")).items()}

app = Flask(__name__)


@app.route("/<path:path>")
def answer(path: str):
    found = BODIES.get("/" + path)
    if found is None:
        abort(404)
    return Response(found[0], content_type=found[1])
