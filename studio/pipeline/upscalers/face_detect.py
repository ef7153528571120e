"""Face detection for face restoration, offline: OpenCV's Haar cascade for frontal faces (the
`haarcascade_frontalface_default.xml` that opencv-python-headless 4.x ships inside the wheel).

A1111 detects and aligns faces with facexlib's RetinaFace, whose weights are downloaded on
first use and which pulls torchvision; Atelier does neither. The cascade finds upright frontal
faces (not profiles, not strongly tilted ones) and gives a box, no landmarks: the crop around
it is square and axis-aligned instead of rotated to the eyes.
"""

from __future__ import annotations

import importlib
from typing import Any

CASCADE = "haarcascade_frontalface_default.xml"
MIN_FACE = 24  # pixels: the cascade's window


def detector_problem() -> str | None:
    """Why faces cannot be detected here, or None."""
    try:
        cv2 = importlib.import_module("cv2")
    except ImportError:
        return (
            "face detection needs opencv-python-headless 4.x (pip install 'opencv-python-headless>=4.9,<5')"
        )
    path = _cascade_path(cv2)
    if path is None:
        return f"this OpenCV ({cv2.__version__}) ships no {CASCADE}; install opencv-python-headless 4.x"
    return None


def _cascade_path(cv2: Any) -> str | None:
    from pathlib import Path

    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if not folder or not (Path(folder) / CASCADE).is_file():
        return None
    return str(Path(folder) / CASCADE)


def detect_faces(image: Any) -> list[tuple[int, int, int, int]]:
    """Boxes (left, top, right, bottom) of the frontal faces in a PIL image, largest first."""
    import cv2
    import numpy as np

    path = _cascade_path(cv2)
    if path is None:
        raise RuntimeError(detector_problem() or "no face detector")
    cascade = cv2.CascadeClassifier(path)
    gray = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2GRAY)
    found = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(MIN_FACE, MIN_FACE))
    boxes = [(int(x), int(y), int(x + w), int(y + h)) for x, y, w, h in found]
    return sorted(boxes, key=lambda box: (box[2] - box[0]) * (box[3] - box[1]), reverse=True)
