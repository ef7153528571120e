"""Face restoration: GFPGAN and CodeFormer networks on the faces found in an image.

Model files: `models/GFPGAN` (GFPGAN, e.g. GFPGANv1.4.pth) and `models/Codeformer` (CodeFormer,
e.g. codeformer-v0.1.0.pth), A1111's folders; `.safetensors` always, pickle files only with
`allow_pickle`. The architectures are spandrel's GFPGAN (`GFPGANv1Clean`, its size and widths
read from the state dict, so any GFPGANv1-clean variant loads) and spandrel_extra_arches'
CodeFormer.

Faces are found by `face_detect.FaceDetector`. With RetinaFace (its file present) each face
has five landmarks: it is warped upright onto the FFHQ template at the network's size,
restored, and warped back with the inverse transform through a soft mask (`face_align`), as
A1111 does through facexlib (through the face-parsing mask when `parsing_parsenet` is there
too, `face_parsing`). With the Haar cascade (no RetinaFace file) a face has only a box:
it is cropped square around it (1.8x its side, edges repeated where the square leaves the
image), resized to the network's size, restored, resized back and pasted with feathered edges.
The result is blended with the original image at `visibility`, as A1111 does. An image with no
detected face comes back unchanged. facexlib's own files in the same folders
(`detection_*`, `parsing_*`) are never taken for a restorer's model.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.pipeline.upscalers.face_detect import Face, FaceDetector, detector_problem
from studio.pipeline.upscalers.models import PICKLE_SUFFIXES, SAFE_SUFFIXES, import_spandrel, load_state_dict
from studio.request import RequestError

RESTORERS = ("GFPGAN", "CodeFormer")
FOLDERS = {"GFPGAN": ("GFPGAN",), "CodeFormer": ("Codeformer", "CodeFormer")}
EXAMPLE_FILES = {"GFPGAN": "GFPGANv1.4.pth", "CodeFormer": "codeformer-v0.1.0.pth"}
CROP_SCALE = 1.8  # the square crop's side over the detected box's side (FFHQ crops hold the head)
FEATHER = 0.1  # of the crop's side: the pasted face fades in over this margin
FACEXLIB_PREFIXES = ("detection_", "parsing_")  # facexlib's files, kept beside the restorers


def find_face_model(models_path: Path, name: str, allow_pickle: bool) -> Path | None:
    """The restorer's model file: safetensors first, then (when allowed) pickle files."""
    suffixes = SAFE_SUFFIXES + (PICKLE_SUFFIXES if allow_pickle else ())
    for suffix in suffixes:
        for folder in FOLDERS[name]:
            root = models_path / folder
            if root.is_dir():
                found = sorted(
                    path
                    for path in root.rglob(f"*{suffix}")
                    if path.is_file() and not path.name.startswith(FACEXLIB_PREFIXES)
                )
                if found:
                    return found[0]
    return None


def gfpgan_network(state: dict[str, Any]) -> Any:
    """spandrel's GFPGANv1Clean with the size and widths of `state` (GFPGAN v1.3/v1.4: 512 px)."""
    import_spandrel()
    from spandrel.architectures.GFPGAN import GFPGAN

    log_size = sum(1 for key in state if key.startswith("toRGB.") and key.endswith(".weight")) + 2
    num_style_feat = int(state["stylegan_decoder.style_mlp.1.weight"].shape[0])
    num_mlp = sum(
        1 for key in state if key.startswith("stylegan_decoder.style_mlp.") and key.endswith(".weight")
    )
    narrow = int(state["final_conv.weight"].shape[0]) / 256  # channels["4"] = 512 * narrow / 2
    multiplier = 2
    if log_size >= 6:  # channels["64"] = 256 * channel_multiplier * narrow / 2
        multiplier = round(int(state["toRGB.3.weight"].shape[1]) / (128 * narrow))
    top = int(state["toRGB.0.weight"].shape[1])
    sft_half = int(state["condition_scale.0.2.weight"].shape[0]) == top
    different_w = int(state["final_linear.weight"].shape[0]) != num_style_feat
    network = GFPGAN(
        out_size=2**log_size,
        num_style_feat=num_style_feat,
        channel_multiplier=multiplier,
        num_mlp=num_mlp,
        narrow=narrow,
        sft_half=sft_half,
        different_w=different_w,
    )
    network.load_state_dict(state, strict=True)
    return network


def codeformer_network(state: dict[str, Any]) -> Any:
    """spandrel_extra_arches' CodeFormer (512 px), its transformer's sizes read from `state`."""
    import_spandrel()
    from spandrel_extra_arches.architectures.CodeFormer import CodeFormerArch

    arch = CodeFormerArch()
    if not arch.detect(state):
        raise ValueError("not a CodeFormer state dict")
    return arch.load(state).model


@dataclass
class FaceNetwork:
    name: str
    module: Any
    size: int

    def restore_crop(self, crop: Any, weight: float) -> Any:
        """A size x size PIL crop through the network ([-1, 1] in and out, as both were trained)."""
        import numpy as np
        import torch
        from PIL import Image

        array = np.asarray(crop.convert("RGB"), dtype=np.float32) / 127.5 - 1.0
        tensor = torch.from_numpy(array).permute(2, 0, 1)[None]
        with torch.no_grad():
            if self.name == "CodeFormer":
                out = self.module(tensor, weight=weight)[0]
            else:
                out = self.module(tensor)[0]
        out = ((out.clamp(-1, 1) + 1) * 127.5)[0].permute(1, 2, 0).round().byte().numpy()
        return Image.fromarray(out)


def _square(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    left, top, right, bottom = box
    side = max(right - left, bottom - top) * CROP_SCALE
    cx, cy = (left + right) / 2, (top + bottom) / 2
    half = math.ceil(side / 2)
    return round(cx) - half, round(cy) - half, round(cx) + half, round(cy) + half


def _crop_padded(image: Any, box: tuple[int, int, int, int]) -> Any:
    """`image` cropped to `box`, which may reach past its edges (edge pixels repeated there)."""
    import numpy as np
    from PIL import Image

    left, top, right, bottom = box
    array = np.asarray(image)
    pad = max(0, -left, -top, right - image.width, bottom - image.height)
    if pad:
        array = np.pad(array, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    return Image.fromarray(array[top + pad : bottom + pad, left + pad : right + pad])


def _feather_mask(side: int) -> Any:
    import numpy as np
    from PIL import Image

    margin = max(1, int(side * FEATHER))
    ramp = np.clip(np.minimum(np.arange(side), np.arange(side)[::-1]) / margin, 0, 1)
    return Image.fromarray((np.outer(ramp, ramp) * 255).astype(np.uint8), "L")


def _restore_square(result: Any, box: tuple[int, int, int, int], network: FaceNetwork, weight: float) -> None:
    """The face in `box` restored in an axis-aligned square crop, pasted into `result`."""
    from PIL import Image

    square = _square(box)
    side = square[2] - square[0]
    crop = _crop_padded(result, square).resize((network.size, network.size), Image.Resampling.LANCZOS)
    restored = network.restore_crop(crop, weight).resize((side, side), Image.Resampling.LANCZOS)
    result.paste(restored, square[:2], _feather_mask(side))  # PIL clips what falls outside


def _restore_aligned(
    result: Any, landmarks: Any, network: FaceNetwork, weight: float, parser: Any = None
) -> Any:
    """The face with these five landmarks warped upright, restored and warped back (through
    the face-parsing mask of the restored face when `parser` is given)."""
    import numpy as np
    from PIL import Image

    from studio.pipeline.upscalers.face_align import alignment_matrix, paste_face, warp_face

    rgb = np.asarray(result)
    matrix = alignment_matrix(landmarks, network.size)
    face = warp_face(rgb, matrix, network.size)
    restored = np.asarray(network.restore_crop(Image.fromarray(face), weight))
    mask = None
    if parser is not None:
        from studio.pipeline.upscalers.face_parsing import parsing_mask

        mask = parsing_mask(parser, restored)
    return Image.fromarray(paste_face(rgb, restored, matrix, mask))


def restore_faces(
    image: Any, network: FaceNetwork, faces: list[Face], weight: float = 0.5, parser: Any = None
) -> Any:
    """The image with each of `faces` restored: aligned by its landmarks when it has them
    (pasted through `parser`'s face mask when given), else in a square crop around its box."""
    result = image.convert("RGB").copy()
    for face in faces:
        try:
            if face.landmarks is not None:
                result = _restore_aligned(result, face.landmarks, network, weight, parser)
                continue
        except ValueError:  # landmarks that determine no transform (all in one point)
            pass
        _restore_square(result, face.box, network, weight)
    return result


class FaceRestorers:
    """The studio's face restorers: their status, loaded networks (one per file) and use."""

    def __init__(self, models_path: Path, allow_pickle: Callable[[], bool]) -> None:
        self.models_path = models_path
        self._allow_pickle = allow_pickle
        self._loaded: dict[Path, FaceNetwork] = {}
        self.detector = FaceDetector(models_path, allow_pickle)

    def problem(self, name: str) -> str | None:
        """Why `name` cannot restore faces here, or None."""
        if name not in RESTORERS:
            return f"unknown face restorer {name!r}; choose one of: {', '.join(RESTORERS)}"
        if name == "CodeFormer" and importlib.util.find_spec("spandrel_extra_arches") is None:
            return (
                "the CodeFormer architecture comes with spandrel_extra_arches, which is not "
                "installed (pip install --no-deps 'spandrel-extra-arches>=0.2,<1')"
            )
        if find_face_model(self.models_path, name, self._allow_pickle()) is None:
            folder = FOLDERS[name][0]
            pickle_note = "" if self._allow_pickle() else " (.pth files need --allow-pickle)"
            return f"no {name} model in models/{folder}: put {EXAMPLE_FILES[name]} or a .safetensors there{pickle_note}"
        return detector_problem()

    def status(self) -> list[dict[str, Any]]:
        """A1111's /face-restorers entries, with `available`, `reason`, the model file and the
        face detector that runs (`detector`, `aligned`, `detector_note`: RetinaFace with
        landmark alignment, or Haar with axis-aligned crops and why)."""
        detector = self.detector.describe()
        entries = []
        for name in RESTORERS:
            reason = self.problem(name)
            path = None if reason else find_face_model(self.models_path, name, self._allow_pickle())
            entries.append(
                {
                    "name": name,
                    "cmd_dir": str(path.parent) if path else None,
                    "available": reason is None,
                    "reason": reason,
                    "model_path": str(path) if path else None,
                    "detector": detector["detector"],
                    "aligned": detector["aligned"],
                    "parsing": detector["parsing"],
                    "detector_note": detector["note"],
                }
            )
        return entries

    def network(self, name: str, field_name: str) -> FaceNetwork:
        problem = self.problem(name)
        if problem:
            raise RequestError(field_name, f"{name} face restoration is unavailable: {problem}")
        path = find_face_model(self.models_path, name, self._allow_pickle())
        assert path is not None
        if path not in self._loaded:
            try:
                state = load_state_dict(path, self._allow_pickle())
                module = gfpgan_network(state) if name == "GFPGAN" else codeformer_network(state)
            except RequestError as error:
                raise RequestError(field_name, error.message) from error
            except Exception as error:  # a file of another architecture, or a damaged one
                raise RequestError(field_name, f"{path.name}: not a {name} model ({error})") from error
            size = 2 ** (len(module.toRGB) + 2) if name == "GFPGAN" else 512
            self._loaded[path] = FaceNetwork(name, module.eval(), size)
        return self._loaded[path]

    def restore(self, image: Any, name: str, visibility: float, weight: float, field_name: str) -> Any:
        """`image` with its faces restored by `name`, blended at `visibility` (A1111's Extras)."""
        from PIL import Image

        if visibility <= 0:
            return image
        network = self.network(name, field_name)
        faces = self.detect(image, field_name)
        restored = restore_faces(image, network, faces, weight, self.parser(field_name) if faces else None)
        if visibility >= 1:
            return restored
        return Image.blend(image.convert("RGB"), restored, visibility)

    def detect(self, image: Any, field_name: str) -> list[Face]:
        """The faces in `image` (RetinaFace when its file is present, else Haar)."""
        try:
            return self.detector.detect(image)
        except RequestError as error:
            raise RequestError(field_name, error.message) from error
        except Exception as error:  # a damaged or foreign RetinaFace file (several error types)
            path = self.detector.retinaface_file()
            if path is None:
                raise
            raise RequestError(field_name, f"{path.name}: not a RetinaFace model ({error})") from error

    def parser(self, field_name: str) -> Any:
        """The face-parsing network for the paste mask, or None (no file, or no RetinaFace)."""
        try:
            return self.detector.parser()
        except RequestError as error:
            raise RequestError(field_name, error.message) from error
        except Exception as error:  # a damaged or foreign file (several error types)
            path = self.detector.parsenet_file()
            raise RequestError(
                field_name, f"{path.name if path else 'parsing_parsenet'}: not a ParseNet model ({error})"
            ) from error

    def check_request(self, request: Any) -> None:
        """A generation's `restore_faces`: RequestError naming it when its restorer cannot run."""
        if request.restore_faces and request.face_restoration_model in RESTORERS:  # else: validate names it
            problem = self.problem(request.face_restoration_model)
            if problem:
                raise RequestError("restore_faces", f"{request.face_restoration_model}: {problem}")

    def restore_generated(self, request: Any, image: Any) -> Any:
        """A generated image with its faces restored when the request asks (A1111: full
        visibility, CodeFormer at `code_former_weight`)."""
        if not request.restore_faces:
            return image
        name = request.face_restoration_model
        return self.restore(image, name, 1.0, request.code_former_weight, "restore_faces")

    def unload(self) -> None:
        self._loaded.clear()
        self.detector.unload()
