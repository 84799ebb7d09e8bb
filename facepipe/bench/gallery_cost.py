"""What a gallery of a school's size costs (`facepipe bench --scale`): its size in the bucket, the recognize
stage's load of it at cold start, the search of one face, and an edit through the bucket's conditional write,
alone and with other editors at the same moment.

The galleries are N people with 3 photos each, their encodings drawn from the face set (who they are does not
change what they cost). Edits run the real :func:`facepipe.aws.gallery_store.update_gallery` against moto's S3 in
this process: the figures are the edit's own work (read, parse, change, write) on this machine; a real bucket
adds its round trips (~20-60 ms each for a GET and a PUT of a few MB in one region).
"""

from __future__ import annotations

import statistics
import threading
import time

import numpy as np
from pydantic import BaseModel

from facepipe.identity.gallery import Gallery, GalleryPerson, GalleryPhoto
from facepipe.identity.matching import decide, person_distances
from facepipe.vision.quality import grade

PHOTOS_PER_PERSON = 3
EDITORS = 4  # operators (or the console and a script) editing at the same moment
EDITS_EACH = 3


class GalleryCost(BaseModel):
    enrolled: int
    photos: int
    gallery_bytes: int
    schema_1_bytes: int  # the same gallery as schema 1 wrote it (decimal encodings)
    load_ms: float  # parse and validate, and build the search's matrix (a cold start's share)
    schema_1_load_ms: float
    search_ms_per_face: float  # a face's distance to every person (a batch of faces, per face)
    decide_ms_per_track: float  # one track's whole decision (facepipe.identity.matching.decide)
    edit_ms: float  # one person's photo added through the bucket (read, change, conditional write), alone
    contended_edit_ms_p50: float  # the same, EDITORS at once, each edit until it lands
    contended_edit_ms_max: float
    contended_edits: int
    contended_edits_landed: int
    contended_errors: list[str] = []  # why an edit did not land (the error's first line), one entry per edit


def _gallery(encodings: np.ndarray, people: int, rng: np.random.Generator) -> Gallery:
    rows = rng.choice(len(encodings), size=(people, PHOTOS_PER_PERSON))
    gallery = Gallery()
    gallery.people = [
        GalleryPerson(
            id=f"p{i:05d}",
            photos=[
                GalleryPhoto(source=f"p{i:05d}/{j}.jpg", sha256=f"{i * 8 + j:064x}", encoding=encodings[r].tolist())
                for j, r in enumerate(rows[i])
            ],
        )
        for i in range(people)
    ]
    return gallery


def _timed(action, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    """The fastest of ``repeat`` runs, in ms (the machine's noise is all on the slow side)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return round(best * 1000, 2)


def _load(data: bytes) -> Gallery:
    gallery = Gallery.loads(data)
    gallery.blocks()  # the matrix the search uses, built as at cold start
    return gallery


def measure_cost(encodings: np.ndarray, people: int, *, seed: int = 0) -> GalleryCost:
    """One gallery size's cost (see the module)."""
    from moto import mock_aws

    from facepipe.aws.gallery_store import update_gallery

    rng = np.random.default_rng(seed)
    gallery = _gallery(encodings.astype(np.float64), people, rng)
    data = gallery.dumps()
    old_data = _as_schema_1(gallery)
    loaded = _load(data)
    probes = encodings[rng.choice(len(encodings), 100)].astype(np.float64)
    search = _timed(lambda: person_distances(probes, loaded)) / len(probes)
    good = [grade(1.5, 400.0, 120, min_height=40)] * 3
    track = probes[:3]
    decide_ms = _timed(lambda: decide(track, good, loaded, tolerance=0.6, margin=0.05), repeat=10)
    with mock_aws():
        import boto3

        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="bench")
        s3.put_object(Bucket="bench", Key="gallery.json", Body=data)
        counter = iter(range(10**6))

        def add_one(worker: int = 0) -> None:
            n = next(counter)
            photo = GalleryPhoto(source=f"new/{n}.jpg", sha256=f"{10**9 + n:064x}", encoding=probes[n % 100].tolist())
            person = f"p{(worker * 97 + n) % people:05d}"
            update_gallery("bench", "gallery.json", lambda g: g.add_photos(person, [photo]), s3=s3)

        edit = _timed(add_one)
        times: list[float] = []
        errors: list[str] = []
        landed = 0
        lock = threading.Lock()

        def editor(worker: int) -> None:
            nonlocal landed
            for _ in range(EDITS_EACH):
                start = time.perf_counter()
                try:
                    add_one(worker)
                except Exception as exc:  # an edit that never landed is counted and named, not raised
                    with lock:
                        errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
                    continue
                with lock:
                    times.append((time.perf_counter() - start) * 1000)
                    landed += 1

        threads = [threading.Thread(target=editor, args=(w,)) for w in range(EDITORS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return GalleryCost(
        enrolled=people,
        photos=people * PHOTOS_PER_PERSON,
        gallery_bytes=len(data),
        schema_1_bytes=len(old_data),
        load_ms=_timed(lambda: _load(data)),
        schema_1_load_ms=_timed(lambda: _load(old_data)),
        search_ms_per_face=round(search, 4),
        decide_ms_per_track=decide_ms,
        edit_ms=edit,
        contended_edit_ms_p50=round(statistics.median(times), 1) if times else 0.0,
        contended_edit_ms_max=round(max(times), 1) if times else 0.0,
        contended_edits=EDITORS * EDITS_EACH,
        contended_edits_landed=landed,
        contended_errors=errors,
    )


def _as_schema_1(gallery: Gallery) -> bytes:
    """The gallery as schema 1 wrote it: every encoding as a list of decimal floats."""
    import json

    document = json.loads(gallery.dumps())
    document["schema_version"] = 1
    for person, raw in zip(gallery.people, document["people"], strict=True):
        for photo, out in zip(person.photos, raw["photos"], strict=True):
            out["encoding"] = photo.encoding
        for rejection, out in zip(person.rejected, raw["rejected"], strict=True):
            out["encoding"] = rejection.encoding
    return json.dumps(document, separators=(",", ":")).encode()
