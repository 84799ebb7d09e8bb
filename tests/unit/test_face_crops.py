"""The enrollable gate of face crops: only a good face (facepipe.vision.quality) may become an unknown to label."""

from __future__ import annotations

import numpy as np

from facepipe.core.contracts import UNKNOWN, Face
from facepipe.identity.face_crops import seen_faces
from facepipe.identity.recognition import FrameResult
from facepipe.vision import encoder
from facepipe.vision.quality import grade


def _frame(height: int, sharpness: float, faceness: float) -> FrameResult:
    chip = np.full((1, encoder.CHIP_SIZE, encoder.CHIP_SIZE, 3), 128, np.uint8)
    return FrameResult(
        faces=[Face(id=UNKNOWN, distance=0.7, box=[100, 100 + height, 100 + height, 100])],
        detected=1,
        ms=1.0,
        encodings=np.zeros((1, 128)),
        chips=chip,
        tracks=[0],
        quality=[grade(faceness, sharpness, height, min_height=40)],
    )


def test_only_a_good_face_is_enrollable_and_the_best_one_is_kept():
    small = seen_faces([_frame(30, 300.0, 1.5)], [0])
    turned = seen_faces([_frame(90, 300.0, 0.1)], [0])
    assert not small[0].enrollable and not turned[0].enrollable  # weak (small) and poor (turned) alike
    # A track with a good face keeps it as its crop, before a taller turned one and a sharper small one.
    (best,) = seen_faces([_frame(120, 900.0, 0.1), _frame(35, 900.0, 2.0), _frame(80, 300.0, 1.5)], [0, 5, 10])
    assert best.enrollable and best.frame_index == 10 and best.height_px == 80
