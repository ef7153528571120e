"""Face detection for face restoration, offline.

- **RetinaFace** (`retinaface`), as A1111 detects faces through facexlib, when its file is
  present (`detection_Resnet50_Final` or `detection_mobilenet0.25_Final`, in `models/GFPGAN`):
  boxes and five landmarks, so each face is aligned to the FFHQ template (`face_align`); with
  facexlib's `parsing_parsenet` beside it, the paste-back mask comes from face parsing.
- Otherwise OpenCV's **Haar cascade** for frontal faces (`haarcascade_frontalface_default.xml`,
  shipped inside opencv-python-headless 4.x): boxes only, so crops are axis-aligned squares;
  it misses profiles and strongly tilted faces. `FaceDetector.describe()` says which one runs
  and why, for the restorers' status.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CASCADE = "haarcascade_frontalface_default.xml"
MIN_FACE = 24  # pixels: the cascade's window
DETECT_MIN_SIDE = 640  # facexlib (as A1111 calls it) resizes the image to this short side
SCORE_THRESHOLD = 0.97  # facexlib's FaceRestoreHelper
EYE_DISTANCE_MIN = 5.0  # pixels: A1111's eye_dist_threshold (drops side faces and tiny ones)


@dataclass(frozen=True)
class Face:
    box: tuple[int, int, int, int]  # left, top, right, bottom
    landmarks: tuple[tuple[float, float], ...] | None = None  # five points, when known


def detector_problem() -> str | None:
    """Why faces cannot be detected here, or None (both detectors need OpenCV)."""
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
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if not folder or not (Path(folder) / CASCADE).is_file():
        return None
    return str(Path(folder) / CASCADE)


def detect_faces(image: Any) -> list[tuple[int, int, int, int]]:
    """Boxes (left, top, right, bottom) of the frontal faces the Haar cascade finds in a PIL
    image, largest first."""
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


def detect_retinaface(network: Any, image: Any) -> list[Face]:
    """Faces with landmarks, as facexlib's `get_face_landmarks_5(resize=640,
    eye_dist_threshold=5)` finds them for A1111 (the image resized to a 640 px short side with
    Lanczos, scores over 0.97), best score first."""
    import cv2
    import numpy as np

    from studio.pipeline.upscalers.retinaface import detect

    rgb = np.asarray(image.convert("RGB"))
    height, width = rgb.shape[:2]
    scale = min(height, width) / DETECT_MIN_SIDE
    if scale != 1:
        size = (int(width / scale), int(height / scale))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_LANCZOS4)
    faces = []
    for found in detect(network, rgb, SCORE_THRESHOLD):
        points = tuple((x * scale, y * scale) for x, y in found.landmarks)
        (lx, ly), (rx, ry) = points[0], points[1]
        if ((lx - rx) ** 2 + (ly - ry) ** 2) ** 0.5 < EYE_DISTANCE_MIN:
            continue
        box = tuple(round(v * scale) for v in found.box)
        faces.append(Face(box, points))  # type: ignore[arg-type]
    return faces


class FaceDetector:
    """RetinaFace when its file is in the models folder (loaded once, kept), else Haar."""

    def __init__(self, models_path: Path, allow_pickle: Callable[[], bool]) -> None:
        self.models_path = models_path
        self._allow_pickle = allow_pickle
        self._loaded: dict[Path, Any] = {}

    def retinaface_file(self) -> Path | None:
        from studio.pipeline.upscalers.retinaface import find_retinaface_file

        return find_retinaface_file(self.models_path, self._allow_pickle())

    def parsenet_file(self) -> Path | None:
        from studio.pipeline.upscalers.face_parsing import find_parsenet_file

        return find_parsenet_file(self.models_path, self._allow_pickle())

    def describe(self) -> dict[str, Any]:
        """{"detector", "aligned", "parsing", "note"}: which detector and paste mask run, and why."""
        path = self.retinaface_file()
        if path is not None:
            parsenet = self.parsenet_file()
            mask = (
                f"pasted back through the face-parsing mask ({parsenet.name})"
                if parsenet
                else "pasted back through a square soft mask (no parsing_parsenet in models/GFPGAN)"
            )
            return {
                "detector": "RetinaFace",
                "aligned": True,
                "parsing": parsenet is not None,
                "note": f"RetinaFace ({path.name}): faces aligned to the FFHQ template by five landmarks, {mask}",
            }
        pickle_note = "" if self._allow_pickle() else "; .pth files need --allow-pickle"
        return {
            "detector": "Haar cascade",
            "aligned": False,
            "parsing": False,
            "note": (
                "OpenCV's Haar cascade with axis-aligned square crops (frontal faces only): no "
                "detection_Resnet50_Final or detection_mobilenet0.25_Final (.safetensors or .pth) "
                f"in models/GFPGAN for RetinaFace and landmark alignment{pickle_note}"
            ),
        }

    def network(self, path: Path) -> Any:
        if path not in self._loaded:
            from studio.pipeline.upscalers.models import load_state_dict
            from studio.pipeline.upscalers.retinaface import build_retinaface

            self._loaded[path] = build_retinaface(load_state_dict(path, self._allow_pickle()))
        return self._loaded[path]

    def parser(self) -> Any:
        """The face-parsing network when its file is present (with RetinaFace), else None."""
        path = self.parsenet_file()
        if path is None or self.retinaface_file() is None:
            return None
        if path not in self._loaded:
            from studio.pipeline.upscalers.face_parsing import build_parsenet
            from studio.pipeline.upscalers.models import load_state_dict

            self._loaded[path] = build_parsenet(load_state_dict(path, self._allow_pickle()))
        return self._loaded[path]

    def detect(self, image: Any) -> list[Face]:
        path = self.retinaface_file()
        if path is not None:
            return detect_retinaface(self.network(path), image)
        return [Face(box) for box in detect_faces(image)]

    def unload(self) -> None:
        self._loaded.clear()
