"""Face alignment as facexlib's FaceRestoreHelper does it for A1111: five landmarks (eyes, nose,
mouth corners) mapped onto the FFHQ 512 template by a similarity transform (rotation, uniform
scale, shift; OpenCV's `estimateAffinePartial2D` with LMEDS), the face warped upright into the
restorer's square, and the restored square warped back with the inverse transform and blended
through a soft mask (the warped square, eroded, its inside eroded again by a twentieth of the
face's side and Gaussian-blurred by as much), or through the face-parsing mask when
`face_parsing`'s network is present, as A1111 does.
"""

from __future__ import annotations

from typing import Any

# facexlib's FFHQ template for 512 px faces: left eye, right eye, nose, mouth left, mouth right
FFHQ_TEMPLATE_512 = (
    (192.98138, 239.94708),
    (318.90277, 240.1936),
    (256.63416, 314.01935),
    (201.26117, 371.41043),
    (313.08905, 371.15118),
)
BORDER_VALUE = (135, 133, 132)  # facexlib's grey outside the image (BGR; near-neutral)


def template(size: int) -> Any:
    import numpy as np

    return np.array(FFHQ_TEMPLATE_512, dtype=np.float32) * (size / 512.0)


def alignment_matrix(landmarks: Any, size: int) -> Any:
    """The 2x3 similarity transform taking the five landmarks onto the template of `size`."""
    import cv2
    import numpy as np

    points = np.asarray(landmarks, dtype=np.float32).reshape(5, 2)
    matrix = cv2.estimateAffinePartial2D(points, template(size), method=cv2.LMEDS)[0]
    if matrix is None:
        raise ValueError("the landmarks do not determine a transform")
    return matrix


def warp_face(rgb: Any, matrix: Any, size: int) -> Any:
    """The face cut out upright: a uint8 (size, size, 3) array."""
    import cv2

    return cv2.warpAffine(
        rgb, matrix, (size, size), borderMode=cv2.BORDER_CONSTANT, borderValue=BORDER_VALUE[::-1]
    )


def paste_face(rgb: Any, face: Any, matrix: Any, mask: Any = None) -> Any:
    """`rgb` (uint8 (H, W, 3)) with `face` (the aligned square) warped back by the inverse of
    `matrix` and blended in through a soft mask: `mask` (float32 in [0, 1], the square's size;
    from face parsing) when given, else the square's own soft mask. Pixels away from the face
    are unchanged."""
    import cv2
    import numpy as np

    height, width = rgb.shape[:2]
    size = face.shape[0]
    inverse = cv2.invertAffineTransform(matrix)
    back = cv2.warpAffine(face, inverse, (width, height)).astype(np.float32)
    if mask is not None:
        soft = cv2.warpAffine(mask, inverse, (width, height), flags=cv2.INTER_AREA)[:, :, None]
        blended = soft * back + (1 - soft) * rgb.astype(np.float32)
        return blended.round().clip(0, 255).astype(np.uint8)
    square = cv2.warpAffine(np.ones((size, size), dtype=np.float32), inverse, (width, height))
    square = cv2.erode(square, np.ones((2, 2), np.uint8))  # the interpolated black border
    edge = int(float(square.sum()) ** 0.5) // 20
    if edge > 0:
        inner = cv2.erode(square, np.ones((edge * 2, edge * 2), np.uint8))
        soft = cv2.GaussianBlur(inner, (edge * 2 + 1, edge * 2 + 1), 0)
    else:
        soft = square
    soft = soft[:, :, None]
    blended = soft * (square[:, :, None] * back) + (1 - soft) * rgb.astype(np.float32)
    return blended.round().clip(0, 255).astype(np.uint8)
