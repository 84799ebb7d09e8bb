"""Errors that carry a stable code and a message a person can act on."""

from __future__ import annotations


class FacepipeError(Exception):
    """Base of every error facepipe raises on purpose.

    ``code`` is a short stable identifier (it ends up in the result message's ``error.code``);
    the message names the input and what is wrong with it.
    """

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self)


class ImageError(FacepipeError):
    """An image that cannot be used: unreadable, not an image, too large."""

    code = "bad_image"


class EnrollmentError(FacepipeError):
    """An enrollment photo that does not hold exactly one face."""

    code = "bad_enrollment_photo"


class GalleryError(FacepipeError):
    """A gallery file that is missing, corrupt or of an unknown version."""

    code = "bad_gallery"


class ClipError(FacepipeError):
    """A clip that cannot be analysed: bad key, too large, too long, undecodable."""

    code = "bad_clip"


class RecordsError(FacepipeError):
    """A students file that cannot be read at all (bad rows are reported, not raised)."""

    code = "bad_records"


# One class per clip problem: across a Lambda boundary only the error's type name and message survive,
# so the type is what carries the stable code into the error result.
class ClipKeyError(ClipError):
    code = "bad_key"


class EmptyClipError(ClipError):
    code = "empty"


class ClipTooLargeError(ClipError):
    code = "too_large"


class ClipTooLongError(ClipError):
    code = "too_long"


class ClipTooManyFramesError(ClipError):
    """More frames than extract reads (a header claiming 240 fps lets 1,200 frames into 5 s)."""

    code = "too_many_frames"


class UndecodableClipError(ClipError):
    code = "undecodable"
