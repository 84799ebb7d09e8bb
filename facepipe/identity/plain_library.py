"""What face_recognition alone answers, the way its README matches: each face to its nearest enrolled photo
within a tolerance, nothing else (no tracks, no quality, no margin). The baseline `facepipe bench` compares the
pipeline against."""

from __future__ import annotations

import numpy as np

from facepipe.core.contracts import UNKNOWN
from facepipe.identity.gallery import Gallery
from facepipe.vision.faces import encode_with_library_defaults, pairwise_distances


def match_encodings(encodings: np.ndarray, gallery: Gallery, *, tolerance: float) -> list[tuple[str, float | None]]:
    """Nearest enrolled person for each encoding, or ``unknown`` beyond ``tolerance``.

    One vectorized distance computation over every enrolled photo: (faces x photos) Euclidean distances,
    then per face the nearest photo. A person with several photos matches on the closest one.
    """
    if len(encodings) == 0:
        return []
    matrix, owners = gallery.matrix()
    if len(owners) == 0:
        return [(UNKNOWN, None) for _ in range(len(encodings))]
    distances = pairwise_distances(encodings, matrix)
    nearest = distances.argmin(axis=1)
    result: list[tuple[str, float | None]] = []
    for row, col in enumerate(nearest):
        distance = float(distances[row, col])
        result.append((owners[col] if distance <= tolerance else UNKNOWN, distance))
    return result


def recognize_with_library_defaults(image: np.ndarray, gallery: Gallery, *, tolerance: float) -> list[str]:
    """The ids face_recognition's own defaults give (HOG with one upsample on the full image, the default
    encoding, the nearest photo within ``tolerance``)."""
    encodings = encode_with_library_defaults(image)
    return [person for person, _ in match_encodings(encodings, gallery, tolerance=tolerance)]
