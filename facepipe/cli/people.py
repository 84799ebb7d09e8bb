"""`facepipe enroll` and `facepipe people list|remove|reject|erase`: the gallery and who is in it.

Just over ~250 lines: the parser and handlers of the five commands on one noun (the gallery), each a few
lines over facepipe.identity and facepipe.ops.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from facepipe.cli.common import DEFAULT_GALLERY, err
from facepipe.core.errors import FacepipeError
from facepipe.core.settings import Settings


def cmd_enroll(args: argparse.Namespace, settings: Settings) -> int:
    from facepipe.identity.enroll import enroll
    from facepipe.identity.gallery import Gallery
    from facepipe.ops.tombstones import refuse_erased

    previous = Gallery.load(args.out) if args.out.exists() else None
    existing = previous if args.update else None
    stacked = None  # the stack's gallery as it stands (its tombstones)
    if args.bucket:
        from facepipe.aws.gallery_store import get_gallery

        stacked, _ = get_gallery(args.bucket, args.key or settings.gallery_key)
    if not args.allow_erased and args.people_dir.is_dir():
        # Before anything is encoded or written: an erased id is refused whether the local file or the stack holds
        # its tombstone (a local gallery written first would otherwise bring them back).
        ids = [d.name for d in args.people_dir.iterdir() if d.is_dir() and not d.name.startswith(".")]
        refuse_erased(ids, [g for g in (previous, stacked) if g is not None], what="enrolling them")
    gallery, report = enroll(
        args.people_dir, settings, gallery=existing, update=args.update, accept_flagged=args.accept_flagged
    )
    for source, reason in report.held:
        what = (
            "enrolled as told (--accept-flagged)" if args.accept_flagged else "not enrolled (--accept-flagged adds it)"
        )
        err(f"{args.people_dir / source}: {what}: {reason}")
    for path, reason in report.flagged:
        err(
            f"{path}: enrolled, but a poor reference ({reason}): strangers land nearer it; "
            "a sharp, frontal photo is better"
        )
    for path, reason in report.errors:
        err(f"{path}: {reason}")
    if not gallery.people:
        err("no one enrolled; gallery not written")
        return 1
    if previous is not None and not args.update:
        # A new gallery keeps the old file's tombstones: who was erased stays erased (those enrolled again on
        # purpose, --allow-erased, lose theirs).
        gallery.erased = [t for t in previous.erased if gallery.person(t.id) is None]
    elif args.allow_erased:
        gallery.check_not_erased(gallery.ids(), allow=True)
    gallery.save(args.out)
    photos = sum(len(p.photos) for p in gallery.people)
    print(
        f"Enrolled {len(report.enrolled)} people ({report.encoded_photos} photos encoded"
        + (f", {len(report.unchanged)} unchanged" if report.unchanged else "")
        + f"); gallery {args.out}: {len(gallery.people)} people, {photos} photos."
    )
    if args.bucket:
        from facepipe.aws.gallery_store import update_gallery, upload_photos

        key = args.key or settings.gallery_key

        def merge(stack: Gallery) -> list[str]:
            # Into the stack's gallery, never over it: the console's labels and rejections stay, and someone
            # erased there is not added back unless the operator says so.
            stack.check_not_erased(gallery.ids(), allow=args.allow_erased)
            return stack.merge(gallery)

        changed = update_gallery(args.bucket, key, merge)
        photos = upload_photos(args.people_dir, gallery, bucket=args.bucket)
        print(
            f"Merged into s3://{args.bucket}/{key}: {len(changed)} people added or given new photos "
            f"({photos} photo(s) uploaded for the console)"
        )
    return 1 if report.errors or (report.held and not args.accept_flagged) else 0


def cmd_people_list(args: argparse.Namespace, settings: Settings) -> int:
    from facepipe.identity.gallery import Gallery
    from facepipe.identity.health import LOOKALIKE, lookalikes

    gallery = Gallery.load(args.gallery)
    alike: dict[str, list[tuple[str, float]]] = {}
    for pair in lookalikes(gallery):
        alike.setdefault(pair.first, []).append((pair.second, pair.distance))
        alike.setdefault(pair.second, []).append((pair.first, pair.distance))
    if args.json:
        for person in gallery.people:
            poor = [
                {"source": p.source, "reasons": p.quality.reasons}
                for p in person.photos
                if p.quality and p.quality.poor
            ]
            near = [{"id": other, "distance": d} for other, d in alike.get(person.id, [])]
            print(
                json.dumps(
                    {
                        "id": person.id,
                        "photos": [p.source for p in person.photos],
                        "poor_references": poor,
                        "lookalikes": near,
                    }
                )
            )
    else:
        for person in gallery.people:
            print(f"{person.id}\t{len(person.photos)} photo(s)\t{', '.join(p.source for p in person.photos)}")
            for photo in person.photos:
                if photo.quality and photo.quality.poor:
                    # A poor reference draws strangers near it: it must be matched more closely, and is best replaced.
                    print(f"  poor reference {photo.source}: {'; '.join(photo.quality.reasons)}")
            for other, distance in alike.get(person.id, []):
                # Siblings, twins, or one person under two ids: faces of one may be named as the other.
                print(f"  lookalike of {other} ({distance:.2f} apart, under {LOOKALIKE}): may be taken for them")
        print(
            f"{len(gallery.people)} people in {args.gallery} "
            f"(created {gallery.created_at}, updated {gallery.updated_at})"
        )
    return 0


def cmd_people_remove(args: argparse.Namespace, settings: Settings) -> int:
    from facepipe.identity.gallery import Gallery

    gallery = Gallery.load(args.gallery)
    if not gallery.remove(args.person_id):
        err(f"{args.person_id}: not in {args.gallery}")
        return 1
    gallery.save(args.gallery)
    print(f"Removed {args.person_id} from {args.gallery}; {len(gallery.people)} people left.")
    return 0


def cmd_people_reject(args: argparse.Namespace, settings: Settings) -> int:
    import tempfile

    from facepipe.identity.corrections import rejection_in_clip
    from facepipe.identity.gallery import Gallery

    gallery = Gallery.load(args.gallery)
    clip = Path(args.clip)
    with tempfile.TemporaryDirectory() as tmp:
        if not clip.is_file():
            if not args.bucket:
                raise FacepipeError(f"{args.clip}: no such clip file (or give --bucket to read it from the stack)")
            from facepipe.aws.s3_objects import get_clip

            data, _ = get_clip(args.bucket, args.clip, None, max_bytes=settings.max_clip_bytes)
            clip = Path(tmp) / Path(args.clip).name
            clip.write_bytes(data)
        encoding, faces_rejected = rejection_in_clip(gallery, clip, args.person_id, settings, source=args.clip)
    gallery.reject(args.person_id, args.clip, encoding)
    gallery.save(args.gallery)
    print(f"{args.clip}: {faces_rejected} face(s) are not {args.person_id}; recorded in {args.gallery}")
    if args.bucket:
        from facepipe.aws.gallery_store import update_gallery

        key = args.key or settings.gallery_key

        def reject(stack: Gallery) -> None:
            if stack.person(args.person_id) is None:
                raise FacepipeError(f"{args.person_id}: not in s3://{args.bucket}/{key}; nothing was recorded there")
            stack.reject(args.person_id, args.clip, encoding)

        update_gallery(args.bucket, key, reject)
        print(f"Recorded in s3://{args.bucket}/{key} (warm functions read it within GalleryRefreshSeconds)")
    return 0


def cmd_people_erase(args: argparse.Namespace, settings: Settings) -> int:
    from facepipe.ops.erase import AlreadyErased

    try:
        return _erase(args, settings)
    except AlreadyErased as done:
        # Idempotent: a school's consent-withdrawal list is re-run by scripts; what was erased stays erased.
        print(f"{done.person_id}: already erased at {done.erased_at}; nothing left to erase.")
        return 0


def _erase(args: argparse.Namespace, settings: Settings) -> int:
    from facepipe.ops.erase import EraseJob, EraseJobs, erase_from_file

    # A stack when one is named (--bucket, --stack) or set up (the env file) and no gallery file alone was named.
    on_stack = bool(args.bucket or args.stack or (settings.bucket_name and args.gallery is None))
    named = args.gallery if args.gallery is not None else DEFAULT_GALLERY
    gallery = named if named.exists() else None
    if not on_stack:
        if gallery is None:
            raise FacepipeError(f"{named}: no such gallery (give --gallery, --bucket or --stack: where to erase from)")
        job = erase_from_file(args.person_id, gallery, settings)
        print(
            f"Erased {job.person_id} from {gallery}: {job.gallery_photos_removed} gallery photo(s). Erasure recorded."
        )
        return 0
    from facepipe.ops.operator import stack_settings

    settings = stack_settings(settings, args.stack)
    overrides = {
        name: value
        for name, value in {
            "bucket_name": args.bucket,
            "students_table": args.table,
            "gallery_key": args.key,
            "sweep_concurrency": args.concurrency,
        }.items()
        if value
    }
    settings = settings.model_copy(update=overrides)

    def show(job: EraseJob) -> None:
        if job.sweep and "sweep" in job.steps_done:
            total = f" of {job.sweep_total}" if job.sweep_total is not None else ""
            print(f"  sweep: {job.sweep_scanned}{total} clip(s) scanned, {job.sweep_matched} matched", flush=True)

    job = EraseJobs(settings, gallery_path=gallery).erase(
        args.person_id, sweep=args.sweep, wait=not args.no_wait, progress=show if args.sweep else None
    )
    if job.status != "completed":
        print(
            f"Erasing {job.person_id}: job {job.id}, sweeping ({job.sweep_scanned} clip(s) scanned so far); "
            "everything else is erased. Run the same command again to see it through."
        )
        return 0
    print(f"Erased {job.person_id}: {job.summary()}. Erasure recorded ({job.audit_key}).")
    return 0


def register(sub: Any) -> None:
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
    p.add_argument(
        "--bucket", help="also merge the people into the gallery in this S3 bucket (the stack's ClipsBucket)"
    )
    p.add_argument("--key", help="S3 key for the uploaded gallery (default: GALLERY_KEY or gallery/gallery.json)")
    p.add_argument(
        "--allow-erased", action="store_true", help="enroll again someone erased from the stack (lifts the tombstone)"
    )
    p.add_argument(
        "--accept-flagged",
        action="store_true",
        help="enroll photos held back as unlike the person's other photos or too like someone else's",
    )
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
        help="erase a person everywhere: gallery (every version), photos, record, clips, sightings, unknown faces",
        description="A job that always finishes and can be run again (it resumes where it stopped): out of the "
        "gallery first (a tombstone keeps them out), then the clips that named them and their sightings (found "
        "by the sightings index, not by decoding clips), their unknown-face clusters, photos and record; "
        "--sweep also decodes every stored clip for faces the pipeline never named. Recorded in "
        "audit/erasures/ (never a face).",
    )
    p.add_argument("person_id", metavar="ID")
    p.add_argument(
        "--gallery",
        type=Path,
        help="a gallery file: alone, erase from it only; with a stack, its copy too (default: gallery.json if there)",
    )
    p.add_argument("--bucket", help="the stack's ClipsBucketName (default: FACEPIPE_BUCKET)")
    p.add_argument("--key", help="S3 key of the gallery (default: GALLERY_KEY)")
    p.add_argument("--table", help="the stack's StudentsTableName (default: STUDENTS_TABLE)")
    p.add_argument("--stack", help="a deployed stack's name (its outputs name the bucket and tables)")
    p.add_argument(
        "--sweep",
        action="store_true",
        help="also decode and match every stored clip (EraseSweepStateMachine: a Distributed Map over clips/)",
    )
    p.add_argument("--concurrency", type=int, help="sweep batches at once (default: SWEEP_CONCURRENCY or 4)")
    p.add_argument("--no-wait", action="store_true", help="start the sweep and return the job's id")
    p.set_defaults(handler=cmd_people_erase)
