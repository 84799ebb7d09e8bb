"""``accuracy``: identity precision and recall per clip and per frame, and strangers reported as unknown."""

from __future__ import annotations

from typing import Any

from facepipe.bench.report import Accuracy, ClipScore
from facepipe.core.contracts import UNKNOWN


def score(rows: list[dict[str, Any]], truth: dict[str, tuple[set[str], int]]) -> Accuracy:
    """``rows``: the runner's rows (each with the result ``message``); ``truth``: key -> (people, strangers)."""
    tp = fp = fn = ftp = ffp = ffn = unknown_expected = unknown_found = 0
    per_clip = []
    for row in rows:
        expected, unknown = truth[row["key"]]
        message = row.get("message") or {}
        got = {p["id"] for p in message.get("people", [])}
        tp += len(got & expected)
        fp += len(got - expected)
        fn += len(expected - got)
        unknown_expected += unknown
        unknown_found += min(unknown, int(message.get("unknown_faces", 0)))
        for frame in message.get("frames", []):
            ids = {f["id"] for f in frame["faces"] if f["id"] != UNKNOWN}
            ftp += len(ids & expected)
            ffp += len(ids - expected)
            ffn += len(expected - ids)
        per_clip.append(
            ClipScore(
                key=row["key"],
                expected=sorted(expected),
                reported=sorted(got),
                unknown_expected=unknown,
                unknown_reported=message.get("unknown_faces"),
            )
        )
    return Accuracy(
        precision=round(tp / (tp + fp), 4) if tp + fp else 1.0,
        recall=round(tp / (tp + fn), 4) if tp + fn else 1.0,
        per_frame_precision=round(ftp / (ftp + ffp), 4) if ftp + ffp else 1.0,
        per_frame_recall=round(ftp / (ftp + ffn), 4) if ftp + ffn else 1.0,
        unknown_faces_expected=unknown_expected,
        unknown_faces_reported_as_unknown=unknown_found,
        clips=per_clip,
    )
