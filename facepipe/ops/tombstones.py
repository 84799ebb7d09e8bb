"""Tombstones hold everywhere a person can re-enter: the gallery keeps the ids of people erased (and when), and
every way back in (enroll, a label, the console, student records, rosters) refuses those ids unless the operator
says so on purpose (``--allow-erased``)."""

from __future__ import annotations

from collections.abc import Iterable

from facepipe.core.errors import FacepipeError
from facepipe.core.settings import Settings
from facepipe.identity.gallery import Gallery


class ErasedError(FacepipeError):
    code = "erased"


def refuse_erased(ids: Iterable[str], galleries: Iterable[Gallery], *, what: str) -> None:
    """Raise, naming them, when any of ``ids`` was erased from any of ``galleries`` (``what``: what would bring them
    back, for the message)."""
    erased: dict[str, str] = {}
    for gallery in galleries:
        erased |= {t.id: t.erased_at for t in gallery.erased}
    again = sorted(set(ids) & set(erased))
    if again:
        listed = ", ".join(f"{i} (erased {erased[i]})" for i in again)
        raise ErasedError(
            f"{listed}: erased before (the gallery keeps a tombstone); {what} would bring them back, so nothing was "
            "imported or written. To add them again on purpose, say so (--allow-erased)"
        )


def stack_gallery(settings: Settings) -> Gallery:
    """The stack's gallery (its tombstones), or an error saying which bucket is needed to know them."""
    from facepipe.aws import gallery_store

    if not settings.bucket_name:
        raise FacepipeError(
            "the stack's bucket is needed to keep erased people out (--bucket, FACEPIPE_BUCKET or --stack)",
            code="no_bucket",
        )
    gallery, _ = gallery_store.get_gallery(settings.bucket_name, settings.gallery_key)
    return gallery
