"""The one request type every generation goes through, and its result. No torch import here.

Field names follow AUTOMATIC1111's API where one exists, so an A1111 payload maps onto a
`GenerationRequest` by name. A variation is `dataclasses.replace(request, steps=30)`; requests
are frozen and never mutated. Images travel as encoded bytes (PNG, JPEG, WebP ...) so a request
serialises to JSON for the persistent job queue and back without loss.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Mode = Literal["txt2img", "img2img", "inpaint"]

MIN_SIZE, MAX_SIZE = 64, 4096
MAX_BATCH_SIZE = 64
MAX_N_ITER = 100
# Seeds are 32-bit like A1111's (it draws from 0..2**32-1 when -1 is given).
MAX_SEED = 2**32 - 1
SAMPLES_FORMATS = ("png", "jpg", "jpeg", "webp")
FACE_RESTORERS = ("CodeFormer", "GFPGAN")


class RequestError(ValueError):
    """A request field holds a bad value. `field` names it; the message says what is wrong."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message

    @property
    def problems(self) -> list[RequestError]:
        """Every bad field this error reports (one here; several for `RequestErrors`)."""
        return [self]


class RequestErrors(RequestError):
    """Several fields are bad at once. `field` and `message` are the first one's, so code that
    names one field still works; `problems` lists them all, in the order they were found."""

    def __init__(self, problems: Iterable[RequestError]) -> None:
        found = [single for problem in problems for single in problem.problems]
        if not found:
            raise ValueError("RequestErrors needs at least one problem")
        super().__init__(found[0].field, found[0].message)
        self.args = ("; ".join(str(problem) for problem in found),)
        self._problems = found

    @property
    def problems(self) -> list[RequestError]:
        return list(self._problems)


class Problems:
    """Collects the RequestErrors of several checks, so one answer names every bad field.

    problems = Problems()
    with problems.check():
        validate_width(...)
    with problems.check():
        validate_steps(...)
    problems.raise_any()          # RequestError (one) or RequestErrors (several)
    """

    def __init__(self) -> None:
        self.found: list[RequestError] = []

    @contextlib.contextmanager
    def check(self) -> Iterator[None]:
        try:
            yield
        except RequestError as error:
            self.add(error)

    def add(self, error: RequestError) -> None:
        known = {(problem.field, problem.message) for problem in self.found}
        for problem in error.problems:
            if (problem.field, problem.message) not in known:
                self.found.append(problem)

    def fields(self) -> set[str]:
        return {problem.field for problem in self.found}

    def __bool__(self) -> bool:
        return bool(self.found)

    def raise_any(self) -> None:
        if len(self.found) == 1:
            raise self.found[0]
        if self.found:
            raise RequestErrors(self.found)


def text_problem(value: object) -> str | None:
    """Why `value` is not acceptable as text, or None: it must be a str of valid Unicode (no lone
    surrogates) without control characters other than tab, newline and carriage return."""
    if not isinstance(value, str):
        return f"expected a string, got {type(value).__name__}"
    for index, char in enumerate(value):
        code = ord(char)
        if 0xD800 <= code <= 0xDFFF:
            return f"contains a lone surrogate (U+{code:04X}) at position {index}: not valid Unicode text"
        if char not in "\t\n\r" and unicodedata.category(char) == "Cc":
            return f"contains the control character U+{code:04X} at position {index}"
    return None


def check_text(field_name: str, value: object) -> str:
    """`value` if it is acceptable text (see `text_problem`), else RequestError naming the field."""
    problem = text_problem(value)
    if problem is not None:
        raise RequestError(field_name, problem)
    assert isinstance(value, str)
    return value


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str = ""
    negative_prompt: str = ""
    # A1111 prompt styles by name (styles.csv), applied in order before generation
    styles: tuple[str, ...] = ()
    seed: int = -1
    subseed: int = -1
    subseed_strength: float = 0.0
    sampler_name: str = "Euler a"
    scheduler: str = "Automatic"
    steps: int = 20
    cfg_scale: float = 7.0
    width: int = 512
    height: int = 512
    batch_size: int = 1
    n_iter: int = 1
    # img2img / inpaint
    init_images: tuple[bytes, ...] = ()
    denoising_strength: float = 0.75
    mask: bytes | None = None
    mask_blur: int = 4
    inpainting_fill: int = 1  # 0 fill, 1 original, 2 latent noise, 3 latent nothing (A1111)
    inpaint_full_res: bool = False  # A1111's "Only masked" inpaint area
    inpaint_full_res_padding: int = 32
    inpainting_mask_invert: int = 0
    # model choice: None means the studio's current model / automatic VAE
    clip_skip: int = 1
    model: str | None = None
    vae: str | None = None
    # model families (docs/models.md): each honoured only by the families that have it; a
    # non-default value with another family is an error, never ignored
    original_width: int = 0  # SDXL size conditioning: the "original size" (0: the output size)
    original_height: int = 0
    crop_left: int = 0  # SDXL crop conditioning: the top-left corner of the crop
    crop_top: int = 0
    refiner_checkpoint: str | None = None  # SDXL: the model that does the last steps (A1111's)
    refiner_switch_at: float = 0.8  # the fraction of the steps after which the refiner takes over
    distilled_cfg_scale: float | None = None  # Flux.1 dev's guidance input (Forge's; None: 3.5)
    flow_shift: float | None = None  # flow-matching models: the sampler's shift (None: the model's)
    skip_layer_guidance_scale: float = 0.0  # SD 3.5: skip-layer guidance (0: off; ~2.8 for medium)
    # scripts by name: {"script name": {"param": value}}; never positional
    scripts: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # ControlNet units, JSON-safe (`studio.controlnet.units.ControlNetUnit.to_json`), in order
    controlnet_units: tuple[Mapping[str, Any], ...] = ()
    save_images: bool = True
    # hires fix (txt2img): a second img2img pass at hr_scale x the size (or hr_resize_x/y),
    # `denoising_strength` strong; upscaler by name (a pixel or a latent one). Empty
    # hr_prompt / hr_negative_prompt and None sampler/scheduler/checkpoint mean "the same".
    enable_hr: bool = False
    hr_scale: float = 2.0
    hr_resize_x: int = 0
    hr_resize_y: int = 0
    hr_upscaler: str = "Latent"
    hr_second_pass_steps: int = 0
    hr_prompt: str = ""
    hr_negative_prompt: str = ""
    hr_sampler_name: str | None = None
    hr_scheduler: str | None = None
    hr_checkpoint_name: str | None = None
    # the saved file's format (A1111's `samples_format`): png, jpg or webp; jpg and webp keep
    # the infotext in their EXIF UserComment, as A1111 writes them
    samples_format: str = "png"
    # face restoration of each image (A1111's `restore_faces`, with its options
    # `face_restoration_model` and `code_former_weight`): studio.pipeline.upscalers.faces
    restore_faces: bool = False
    face_restoration_model: str = "CodeFormer"
    code_former_weight: float = 0.5

    @property
    def hires_size(self) -> tuple[int, int]:
        """(width, height) of the hires pass, as A1111 computes it (multiples of 8; one resize
        side 0 keeps the aspect ratio)."""
        if self.hr_resize_x == 0 and self.hr_resize_y == 0:
            return int(self.width * self.hr_scale) // 8 * 8, int(self.height * self.hr_scale) // 8 * 8
        if self.hr_resize_y == 0:
            return self.hr_resize_x, self.hr_resize_x * self.height // self.width // 8 * 8
        if self.hr_resize_x == 0:
            return self.hr_resize_y * self.width // self.height // 8 * 8, self.hr_resize_y
        return self.hr_resize_x, self.hr_resize_y

    @property
    def mode(self) -> Mode:
        if not self.init_images:
            return "txt2img"
        return "inpaint" if self.mask is not None else "img2img"

    @property
    def image_count(self) -> int:
        return self.batch_size * self.n_iter

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict; images become base64 strings. `from_json` inverts it exactly."""
        data = dataclasses.asdict(self)
        data["init_images"] = [base64.b64encode(image).decode("ascii") for image in self.init_images]
        data["mask"] = base64.b64encode(self.mask).decode("ascii") if self.mask is not None else None
        data["scripts"] = {name: dict(args) for name, args in self.scripts.items()}
        data["styles"] = list(self.styles)
        data["controlnet_units"] = [dict(unit) for unit in self.controlnet_units]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GenerationRequest:
        """The request from its JSON form; RequestError (or RequestErrors) naming every bad field:
        unknown fields, bad base64 images, and values of the wrong JSON type."""
        if not isinstance(data, Mapping):
            raise RequestError("payload", f"expected an object, got {type(data).__name__}")
        problems = Problems()
        known = {f.name for f in dataclasses.fields(cls)}
        for name in sorted(set(data) - known, key=str):
            problems.add(
                RequestError(str(name), f"unknown field; valid fields are {', '.join(sorted(known))}")
            )
        values = {key: value for key, value in data.items() if key in known}
        if "init_images" in values:
            images = values["init_images"] or ()
            if not isinstance(images, list | tuple):
                problems.add(RequestError("init_images", "expected a list of base64 images"))
                images = ()
            decoded = []
            for i, item in enumerate(images):
                with problems.check():
                    decoded.append(decode_base64(item, f"init_images[{i}]"))
            values["init_images"] = tuple(decoded)
        if values.get("mask") is not None:
            with problems.check():
                values["mask"] = decode_base64(values["mask"], "mask")
        if "styles" in values:
            with problems.check():
                values["styles"] = _style_names(values["styles"])
        if "controlnet_units" in values:
            units = values["controlnet_units"] or ()
            if not isinstance(units, list | tuple) or not all(isinstance(unit, Mapping) for unit in units):
                problems.add(RequestError("controlnet_units", "expected a list of ControlNet unit objects"))
                units = ()
            values["controlnet_units"] = tuple(dict(unit) for unit in units)
        scripts = values.get("scripts")
        if scripts is not None and not (
            isinstance(scripts, Mapping) and all(isinstance(args, Mapping) for args in scripts.values())
        ):
            problems.add(RequestError("scripts", 'expected an object {"script name": {"param": value}}'))
        problems.raise_any()
        return cls(**values)


def _style_names(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise RequestError("styles", f"expected a list of style names, got {value!r}")
    bad = [item for item in value if not isinstance(item, str)]
    if bad:
        raise RequestError("styles", f"style names are strings, got {bad[0]!r}")
    return tuple(value)


def decode_base64(value: str | bytes, field_name: str) -> bytes:
    """Decode base64 (optionally a `data:image/...;base64,` URL) or raise RequestError naming the field."""
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise RequestError(field_name, f"expected a base64 string, got {type(value).__name__}")
    text = value.split(",", 1)[1] if value.startswith("data:") else value
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, TypeError) as error:
        raise RequestError(field_name, f"not valid base64 ({error})") from error


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(name, f"expected a number, got {value!r}")
    if not low <= value <= high:
        raise RequestError(name, f"{value} is out of range {low}..{high}")


def _check_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(name, f"expected an integer, got {value!r}")


def _check_choice(name: str, value: str, choices: Iterable[str]) -> None:
    options = list(choices)
    if value not in options:
        raise RequestError(name, f"unknown value {value!r}; choose one of: {', '.join(options)}")


def _check_size(name: str, value: object) -> None:
    _check_int(name, value)
    assert isinstance(value, int)
    _check_range(name, value, MIN_SIZE, MAX_SIZE)
    if value % 8:
        raise RequestError(name, f"{value} is not a multiple of 8")


def _check_int_range(name: str, value: object, low: int, high: int) -> None:
    _check_int(name, value)
    assert isinstance(value, int)
    _check_range(name, value, low, high)


INT_RANGES = (
    ("steps", 1, 150),
    ("batch_size", 1, MAX_BATCH_SIZE),
    ("n_iter", 1, MAX_N_ITER),
    ("clip_skip", 1, 12),
    ("mask_blur", 0, 64),
    ("inpainting_fill", 0, 3),
    ("inpaint_full_res_padding", 0, 256),
    ("inpainting_mask_invert", 0, 1),
    ("seed", -1, MAX_SEED),
    ("subseed", -1, MAX_SEED),
)
FLOAT_RANGES = (
    ("cfg_scale", 0, 30),
    ("denoising_strength", 0, 1),
    ("subseed_strength", 0, 1),
    ("code_former_weight", 0, 1),
)
TEXT_FIELDS = ("prompt", "negative_prompt", "sampler_name", "scheduler")
OPTIONAL_TEXT_FIELDS = ("model", "vae")


def validate(
    request: GenerationRequest,
    *,
    samplers: Iterable[str] | None = None,
    schedulers: Iterable[str] | None = None,
    models: Iterable[str] | None = None,
    vaes: Iterable[str] | None = None,
) -> GenerationRequest:
    """Check every field; raise RequestError naming the bad one (RequestErrors when several are
    bad, naming each). Returns the request.

    Name checks run only for the registries passed in, so this module stays torch-free and the
    caller decides which names are valid (sampler table, scanned models, VAEs). Text fields must
    be valid Unicode without control characters (`text_problem`): such text is refused here, never
    written into a PNG or the database.
    """
    problems = Problems()
    for name in TEXT_FIELDS:
        with problems.check():
            check_text(name, getattr(request, name))
    for name in OPTIONAL_TEXT_FIELDS:
        if getattr(request, name) is not None:
            with problems.check():
                check_text(name, getattr(request, name))
    for name in ("width", "height"):
        with problems.check():
            _check_size(name, getattr(request, name))
    for name, low, high in INT_RANGES:
        with problems.check():
            _check_int_range(name, getattr(request, name), low, high)
    for name, low, high in FLOAT_RANGES:
        with problems.check():
            _check_range(name, getattr(request, name), low, high)
    for name, high in (
        ("original_width", 4 * MAX_SIZE),
        ("original_height", 4 * MAX_SIZE),
        ("crop_left", MAX_SIZE),
        ("crop_top", MAX_SIZE),
    ):
        with problems.check():
            _check_int_range(name, getattr(request, name), 0, high)
    with problems.check():
        _check_range("refiner_switch_at", request.refiner_switch_at, 0, 1)
        if request.refiner_checkpoint is not None and not 0 < request.refiner_switch_at < 1:
            raise RequestError(
                "refiner_switch_at", f"{request.refiner_switch_at} must be between 0 and 1 (exclusive)"
            )
    if request.refiner_checkpoint is not None:
        if not isinstance(request.refiner_checkpoint, str) or not request.refiner_checkpoint.strip():
            problems.add(
                RequestError(
                    "refiner_checkpoint", f"expected a model name, got {request.refiner_checkpoint!r}"
                )
            )
        else:
            with problems.check():
                check_text("refiner_checkpoint", request.refiner_checkpoint)
    if request.distilled_cfg_scale is not None:
        with problems.check():
            _check_range("distilled_cfg_scale", request.distilled_cfg_scale, 0, 30)
    if request.flow_shift is not None:
        with problems.check():
            _check_range("flow_shift", request.flow_shift, 0, 20)
            if request.flow_shift <= 0:
                raise RequestError("flow_shift", f"{request.flow_shift} must be above 0")
    with problems.check():
        _check_range("skip_layer_guidance_scale", request.skip_layer_guidance_scale, 0, 10)
    if not isinstance(request.save_images, bool):
        problems.add(RequestError("save_images", f"expected true or false, got {request.save_images!r}"))
    if not isinstance(request.styles, tuple) or not all(isinstance(name, str) for name in request.styles):
        problems.add(RequestError("styles", "expected a tuple of style names"))
    else:
        for index, name in enumerate(request.styles):
            with problems.check():
                check_text(f"styles[{index}]", name)
    if request.mask is not None and not request.init_images:
        problems.add(RequestError("mask", "a mask needs an init image (init_images is empty)"))
    if request.enable_hr:
        with problems.check():
            _validate_hires(request)
    with problems.check():
        _check_choice("samples_format", request.samples_format, SAMPLES_FORMATS)
    if not isinstance(request.restore_faces, bool):
        problems.add(RequestError("restore_faces", f"expected true or false, got {request.restore_faces!r}"))
    with problems.check():
        _check_choice("face_restoration_model", request.face_restoration_model, FACE_RESTORERS)
    bad = problems.fields()
    if samplers is not None and "sampler_name" not in bad:
        with problems.check():
            _check_choice("sampler_name", request.sampler_name, samplers)
    if schedulers is not None and "scheduler" not in bad:
        with problems.check():
            _check_choice("scheduler", request.scheduler, schedulers)
    if models is not None and request.model is not None and "model" not in bad:
        with problems.check():
            _check_choice("model", request.model, models)
    if vaes is not None and request.vae not in (None, "Automatic", "None") and "vae" not in bad:
        with problems.check():
            _check_choice("vae", request.vae, vaes)
    problems.raise_any()
    return request


def _validate_hires(request: GenerationRequest) -> None:
    if request.init_images:
        raise RequestError("enable_hr", "hires fix applies to txt2img only (init_images is set)")
    _check_range("hr_scale", request.hr_scale, 1, 8)
    for name in ("hr_resize_x", "hr_resize_y"):
        value = getattr(request, name)
        _check_int(name, value)
        _check_range(name, value, 0, MAX_SIZE)
        if value % 8:
            raise RequestError(name, f"{value} is not a multiple of 8")
    _check_int("hr_second_pass_steps", request.hr_second_pass_steps)
    _check_range("hr_second_pass_steps", request.hr_second_pass_steps, 0, 150)
    width, height = request.hires_size
    for name, value in (("hr_resize_x", width), ("hr_resize_y", height)):
        if not MIN_SIZE <= value <= MAX_SIZE:
            raise RequestError(
                name, f"the hires size {width}x{height} is out of range {MIN_SIZE}..{MAX_SIZE}"
            )
    for name in ("hr_upscaler", "hr_prompt", "hr_negative_prompt"):
        if not isinstance(getattr(request, name), str):
            raise RequestError(name, "expected a string")


@dataclass
class ImageRecord:
    """One generated image: encoded PNG bytes (with infotext), its seeds, and where it was saved."""

    png: bytes
    seed: int
    subseed: int
    infotext: str
    path: str | None = None


@dataclass
class Result:
    request: GenerationRequest
    images: list[ImageRecord] = field(default_factory=list)
    # phase name -> seconds, e.g. {"load": 0.1, "encode": 0.01, "denoise": 1.2, "decode": 0.05}
    timings: dict[str, float] = field(default_factory=dict)
    peak_memory_bytes: int = 0
    interrupted: bool = False
    warnings: list[str] = field(default_factory=list)  # e.g. the cost check's (studio.memory.estimate)
    cost: dict[str, Any] | None = None  # the cost check: {"cost_check", "estimate", "warnings"}
    # device, dtypes, fallback, memory plan, VAE fp32 retries (studio.pipeline.runtime_policy);
    # not part of the infotext
    runtime: dict[str, Any] | None = None

    @property
    def seeds(self) -> list[int]:
        return [image.seed for image in self.images]

    @property
    def infotexts(self) -> list[str]:
        return [image.infotext for image in self.images]
