"""The ``facepipe`` command line: enrollment, recognition, records, and the local stack.

Exit codes: 0 success, 1 failure (something could not be done), 2 usage error (argparse's own).

Longer than most modules (~290 lines) on purpose: it is the one parser of the domain commands, each a
few lines over a facepipe function; the local stack's and the bench's commands live in their packages.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from facepipe.errors import FacepipeError
from facepipe.settings import Settings, get_settings

DEFAULT_GALLERY = Path("gallery.json")

Handler = Callable[[argparse.Namespace, Settings], int]


def _err(message: str) -> None:
    print(f"facepipe: {message}", file=sys.stderr)


# --- enroll / people ------------------------------------------------------------------------------
def cmd_enroll(args: argparse.Namespace, settings: Settings) -> int:
    from facepipe.enroll import enroll
    from facepipe.gallery import Gallery

    existing = None
    if args.update and args.out.exists():
        existing = Gallery.load(args.out)
    gallery, report = enroll(args.people_dir, settings, gallery=existing, update=args.update)
    for path, reason in report.errors:
        _err(f"{path}: {reason}")
    if not gallery.people:
        _err("no one enrolled; gallery not written")
        return 1
    gallery.save(args.out)
    photos = sum(len(p.photos) for p in gallery.people)
    print(
        f"Enrolled {len(report.enrolled)} people ({report.encoded_photos} photos encoded"
        + (f", {len(report.unchanged)} unchanged" if report.unchanged else "")
        + f"); gallery {args.out}: {len(gallery.people)} people, {photos} photos."
    )
    if args.bucket:
        from facepipe.s3_store import upload_gallery, upload_photos

        upload_gallery(gallery, bucket=args.bucket, key=args.key or settings.gallery_key)
        photos = upload_photos(args.people_dir, gallery, bucket=args.bucket)
        print(f"Uploaded to s3://{args.bucket}/{args.key or settings.gallery_key} ({photos} photo(s) for the console)")
    return 1 if report.errors else 0


def cmd_people_list(args: argparse.Namespace, settings: Settings) -> int:
    from facepipe.gallery import Gallery

    gallery = Gallery.load(args.gallery)
    if args.json:
        for person in gallery.people:
            print(json.dumps({"id": person.id, "photos": [p.source for p in person.photos]}))
    else:
        for person in gallery.people:
            print(f"{person.id}\t{len(person.photos)} photo(s)\t{', '.join(p.source for p in person.photos)}")
        print(
            f"{len(gallery.people)} people in {args.gallery} "
            f"(created {gallery.created_at}, updated {gallery.updated_at})"
        )
    return 0


def cmd_people_remove(args: argparse.Namespace, settings: Settings) -> int:
    from facepipe.gallery import Gallery

    gallery = Gallery.load(args.gallery)
    if not gallery.remove(args.person_id):
        _err(f"{args.person_id}: not in {args.gallery}")
        return 1
    gallery.save(args.gallery)
    print(f"Removed {args.person_id} from {args.gallery}; {len(gallery.people)} people left.")
    return 0


def cmd_people_reject(args: argparse.Namespace, settings: Settings) -> int:
    import tempfile

    from facepipe.corrections import reject_in_clip
    from facepipe.gallery import Gallery

    gallery = Gallery.load(args.gallery)
    clip = Path(args.clip)
    with tempfile.TemporaryDirectory() as tmp:
        if not clip.is_file():
            if not args.bucket:
                raise FacepipeError(f"{args.clip}: no such clip file (or give --bucket to read it from the stack)")
            from facepipe.s3_store import get_clip

            data, _ = get_clip(args.bucket, args.clip, None, max_bytes=settings.max_clip_bytes)
            clip = Path(tmp) / Path(args.clip).name
            clip.write_bytes(data)
        faces_rejected = reject_in_clip(gallery, clip, args.person_id, settings, source=args.clip)
    gallery.save(args.gallery)
    print(f"{args.clip}: {faces_rejected} face(s) are not {args.person_id}; recorded in {args.gallery}")
    if args.bucket:
        from facepipe.s3_store import upload_gallery

        upload_gallery(gallery, bucket=args.bucket, key=args.key or settings.gallery_key)
        key = args.key or settings.gallery_key
        print(f"Uploaded to s3://{args.bucket}/{key} (warm functions read it within GalleryRefreshSeconds)")
    return 0


def cmd_people_erase(args: argparse.Namespace, settings: Settings) -> int:
    from facepipe.erase import erase_person

    gallery = args.gallery if (args.gallery is not None and args.gallery.exists()) else None
    record = erase_person(
        args.person_id,
        settings,
        gallery_path=gallery,
        bucket=args.bucket,
        gallery_key=args.key,
        table=args.table,
        sightings_table=settings.sightings_table or None,
        unknowns_table=settings.unknowns_table or None,
    )
    where = ", ".join(record.gallery_files) or "no gallery"
    print(
        f"Erased {record.person_id}: {record.gallery_photos_removed} gallery photo(s) from {where}; "
        f"record {'deleted' if record.record_deleted else 'not found'}; "
        f"{len(record.clips_deleted)} of {record.clips_scanned} stored clip(s) deleted; "
        f"{record.photos_deleted} stored photo(s), {record.sightings_deleted} sighting(s) and "
        f"{len(record.unknowns_deleted)} unknown-face cluster(s) deleted. Erasure recorded."
    )
    return 0


# --- recognize --------------------------------------------------------------------------------------
def cmd_recognize(args: argparse.Namespace, settings: Settings) -> int:
    from facepipe import faces, recognition
    from facepipe.gallery import Gallery
    from facepipe.images import load_rgb

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
            )
        except FacepipeError as exc:
            failed += 1
            if args.json:
                print(json.dumps({"file": str(path), "error": {"code": exc.code, "message": exc.message}}))
            else:
                _err(exc.message)
            continue
        ms = (time.perf_counter() - start) * 1000
        unknown = sum(1 for f in found if f.id == faces.UNKNOWN)
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
            names = [f"{f.id} (distance {f.distance:.2f})" for f in found if f.id != faces.UNKNOWN]
            who = ", ".join(names) if names else "nobody enrolled"
            extra = f" and {unknown} unknown face(s)" if unknown else ""
            print(f"{path}: {who}{extra} [{len(found)} face(s), {ms:.0f} ms]")
    return 1 if failed else 0


# --- students ---------------------------------------------------------------------------------------
def cmd_students_validate(args: argparse.Namespace, settings: Settings) -> int:
    from facepipe.records import validate_records

    report = validate_records(args.file)
    for _line, message in report.problems:
        print(f"{args.file}: {message}")
    print(f"{args.file}: {len(report.records)} valid record(s), {len(report.problems)} problem(s)")
    return 0 if report.ok else 1


def cmd_students_import(args: argparse.Namespace, settings: Settings) -> int:
    from facepipe.dynamo_records import put_records
    from facepipe.records import validate_records

    report = validate_records(args.file)
    for _line, message in report.problems:
        _err(f"{args.file}: {message} (skipped)")
    count = put_records(report.records, table=args.table)
    print(f"Imported {count} record(s) into {args.table}; {len(report.problems)} row(s) skipped.")
    return 0 if report.ok else 1


def cmd_schema(args: argparse.Namespace, settings: Settings) -> int:
    from facepipe.contracts import result_schema

    print(json.dumps(result_schema(), indent=2))
    return 0


# --- parser -----------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facepipe",
        description="Real-time face recognition from edge cameras on AWS: enroll people, recognize faces, "
        "run the pipeline locally or deploy it with SAM.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "enroll",
        help="enroll people from PEOPLE_DIR/<person_id>/*.jpg|png into a gallery",
        description="Encode one face per photo; bad photos are reported and skipped.",
    )
    p.add_argument("people_dir", type=Path, metavar="PEOPLE_DIR")
    p.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_GALLERY,
        metavar="GALLERY",
        help="gallery file to write (default: %(default)s)",
    )
    p.add_argument(
        "--update",
        action="store_true",
        help="add or replace the people found, keep the rest; unchanged photos are not re-encoded",
    )
    p.add_argument("--bucket", help="also upload the gallery to this S3 bucket (the stack's ClipsBucket)")
    p.add_argument("--key", help="S3 key for the uploaded gallery (default: GALLERY_KEY or gallery/gallery.json)")
    p.set_defaults(handler=cmd_enroll)

    people = sub.add_parser("people", help="list or remove enrolled people").add_subparsers(
        dest="people_command", required=True, metavar="ACTION"
    )
    p = people.add_parser("list", help="list the people in a gallery")
    p.add_argument("--gallery", type=Path, default=DEFAULT_GALLERY)
    p.add_argument("--json", action="store_true", help="one JSON object per person")
    p.set_defaults(handler=cmd_people_list)
    p = people.add_parser("remove", help="remove a person from a gallery")
    p.add_argument("person_id", metavar="ID")
    p.add_argument("--gallery", type=Path, default=DEFAULT_GALLERY)
    p.set_defaults(handler=cmd_people_remove)
    p = people.add_parser(
        "reject",
        help="a wrong match: the face CLIP names ID is not them (a negative example the matcher honours)",
        description="Finds the faces CLIP names ID as the pipeline does and keeps their mean encoding in the "
        "gallery as a face that is not ID: a face nearer it than ID's photos is never named ID again.",
    )
    p.add_argument("clip", metavar="CLIP", help="a clip file, or its key in --bucket (a result's clip.key)")
    p.add_argument("person_id", metavar="ID")
    p.add_argument("--gallery", type=Path, default=DEFAULT_GALLERY)
    p.add_argument("--bucket", help="the stack's ClipsBucketName: read CLIP there, upload the gallery there")
    p.add_argument("--key", help="S3 key of the gallery (default: GALLERY_KEY)")
    p.set_defaults(handler=cmd_people_reject)
    p = people.add_parser(
        "erase",
        help="erase a person everywhere: gallery, S3 gallery, record, stored frames",
        description="Removes the person from the gallery file and the S3 gallery (all versions), "
        "deletes their student record and every stored frame they appear in, and records the erasure.",
    )
    p.add_argument("person_id", metavar="ID")
    p.add_argument("--gallery", type=Path, default=DEFAULT_GALLERY)
    p.add_argument("--bucket", help="the stack's ClipsBucketName (S3 gallery, frames, audit record)")
    p.add_argument("--key", help="S3 key of the gallery (default: GALLERY_KEY)")
    p.add_argument("--table", help="the stack's StudentsTableName")
    p.set_defaults(handler=cmd_people_erase)

    p = sub.add_parser(
        "recognize",
        help="recognize the faces in images against a gallery",
        description="Detect, encode and match every face; unknown faces are reported as 'unknown'.",
    )
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    p.add_argument("--gallery", type=Path, default=DEFAULT_GALLERY)
    p.add_argument("--json", action="store_true", help="one JSON line per image")
    p.add_argument("--tolerance", type=float, help="match distance limit (default: MATCH_TOLERANCE or 0.60)")
    p.add_argument("--model", choices=["hog", "cnn"], help="face detector (default: hog)")
    p.add_argument(
        "--max-side",
        type=int,
        help="detect on a copy at most this many pixels on its longest side (default: 1024, PHOTO_DETECT_MAX_SIDE)",
    )
    p.set_defaults(handler=cmd_recognize)

    students = sub.add_parser("students", help="validate or import student records").add_subparsers(
        dest="students_command", required=True, metavar="ACTION"
    )
    p = students.add_parser("validate", help="check a JSON list or CSV of records (id and name required)")
    p.add_argument("file", type=Path, metavar="FILE")
    p.set_defaults(handler=cmd_students_validate)
    p = students.add_parser("import", help="load valid records into the students DynamoDB table")
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--table", required=True, help="the stack's StudentsTable name")
    p.set_defaults(handler=cmd_students_import)

    p = sub.add_parser(
        "schema",
        help="print the JSON Schema of the result message (protocol/facepipe_protocol/schemas/result.schema.json)",
    )
    p.set_defaults(handler=cmd_schema)

    for register in _extra_commands():
        register(sub)
    return parser


def _extra_commands() -> list[Callable[[argparse._SubParsersAction], None]]:  # type: ignore[type-arg]
    """Commands that live in their own modules (local stack, benchmark)."""
    from facepipe import bench, device_commands, unknown_commands
    from facepipe.console import command as console_command
    from facepipe.local import commands as local_commands

    return [
        local_commands.register,
        device_commands.register,
        unknown_commands.register,
        console_command.register,
        bench.register,
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args, get_settings()))
    except FacepipeError as exc:
        _err(exc.message)
        return 1
    except KeyboardInterrupt:
        return 130
