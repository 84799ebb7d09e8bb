"""`facepipe recognize` (faces in photos, against a gallery) and `facepipe schema` (the result message's
JSON Schema)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from facepipe.cli.common import DEFAULT_GALLERY, err
from facepipe.core.errors import FacepipeError
from facepipe.core.settings import Settings


def cmd_recognize(args: argparse.Namespace, settings: Settings) -> int:
    from facepipe.core.contracts import UNKNOWN
    from facepipe.identity import recognition
    from facepipe.identity.gallery import Gallery
    from facepipe.media.images import load_rgb
    from facepipe.vision import faces

    gallery = Gallery.load(args.gallery)
    tolerance = args.tolerance if args.tolerance is not None else settings.match_tolerance
    faces.load_models()
    failed = 0
    for path in args.images:
        start = time.perf_counter()
        try:
            image = load_rgb(path, max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels)
            found = recognition.recognize_image(
                image,
                gallery,
                tolerance=tolerance,
                margin=settings.match_margin,
                model=args.model or settings.detect_model,
                max_side=args.max_side or settings.photo_detect_max_side,
                strangers_target=settings.match_strangers_target,
            )
        except FacepipeError as exc:
            failed += 1
            if args.json:
                print(json.dumps({"file": str(path), "error": {"code": exc.code, "message": exc.message}}))
            else:
                err(exc.message)
            continue
        ms = (time.perf_counter() - start) * 1000
        unknown = sum(1 for f in found if f.id == UNKNOWN)
        if args.json:
            print(
                json.dumps(
                    {
                        "file": str(path),
                        "faces": [f.model_dump(mode="json") for f in found],
                        "unknown_faces": unknown,
                        "ms": round(ms, 1),
                    }
                )
            )
        else:
            names = [f"{f.id} (distance {f.distance:.2f})" for f in found if f.id != UNKNOWN]
            who = ", ".join(names) if names else "nobody enrolled"
            extra = f" and {unknown} unknown face(s)" if unknown else ""
            print(f"{path}: {who}{extra} [{len(found)} face(s), {ms:.0f} ms]")
    return 1 if failed else 0


def cmd_schema(args: argparse.Namespace, settings: Settings) -> int:
    from facepipe.core.contracts import result_schema

    print(json.dumps(result_schema(), indent=2))
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "recognize",
        help="recognize the faces in images against a gallery",
        description="Detect, encode and match every face; unknown faces are reported as 'unknown'.",
    )
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    p.add_argument("--gallery", type=Path, default=DEFAULT_GALLERY)
    p.add_argument("--json", action="store_true", help="one JSON line per image")
    p.add_argument("--tolerance", type=float, help="match distance limit (default: MATCH_TOLERANCE or 0.60)")
    p.add_argument(
        "--model",
        choices=["hog", "cnn", "yunet"],
        help="face detector (default: DETECT_MODEL, yunet): dlib's HOG, dlib's CNN in ONNX, or OpenCV Zoo's YuNet",
    )
    p.add_argument(
        "--max-side",
        type=int,
        help="detect on a copy at most this many pixels on its longest side (default: 1024, PHOTO_DETECT_MAX_SIDE)",
    )
    p.set_defaults(handler=cmd_recognize)

    p = sub.add_parser(
        "schema",
        help="print the JSON Schema of the result message (protocol/facepipe_protocol/schemas/result.schema.json)",
    )
    p.set_defaults(handler=cmd_schema)
