"""Optional face gate: a cheap detector on the Pi that skips clips with nobody in them.

OpenCV's Haar cascade on a few downscaled frames costs milliseconds on a Pi; a clip where it finds no face
in any of them is not uploaded (counted in the summary). It can miss a face the cloud would find (profile,
far away), which is why it is off by default.
"""

from __future__ import annotations

import tempfile


class FaceGate:
    def __init__(self, frames: int = 3, width: int = 320) -> None:
        import cv2

        # opencv-python 4.x ships the Haar cascades next to the module (cv2.data); 5.x no longer does.
        cascades = getattr(cv2, "data").haarcascades  # noqa: B009 - not in the type stubs
        self.cascade = cv2.CascadeClassifier(cascades + "haarcascade_frontalface_default.xml")
        self.frames, self.width = frames, width

    def has_face(self, data: bytes, ext: str) -> bool:
        import cv2

        with tempfile.NamedTemporaryFile(suffix=f".{ext}") as handle:
            handle.write(data)
            handle.flush()
            capture = cv2.VideoCapture(handle.name)
            frames = []
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                frames.append(frame)
            capture.release()
        if not frames:
            return True  # undecodable here: let the pipeline give its clear error
        step = max(1, len(frames) // self.frames)
        for frame in frames[::step][: self.frames]:
            scale = self.width / frame.shape[1]
            small = cv2.resize(frame, None, fx=scale, fy=scale)
            gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
            if len(self.cascade.detectMultiScale(gray, 1.1, 4, minSize=(20, 20))):
                return True
        return False
