"""``python -m facepipe.bench.coldstart APP``: one cold invocation of a handler (the event on stdin),
printing its peak RSS. Run by :func:`facepipe.bench.process.cold_start` in a fresh process."""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

from facepipe.local.lambdas import LambdaContext, load_handler


def main(app: str) -> int:
    handler = load_handler(Path(app))
    handler(json.loads(sys.stdin.read()), LambdaContext("cold"))
    print(json.dumps({"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
