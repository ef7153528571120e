"""A1111 "parameters" infotext: format it, parse it back, and read it from PNG files.

The format is AUTOMATIC1111's exactly:

    a prompt
    Negative prompt: a negative prompt
    Steps: 20, Sampler: Euler a, Schedule type: Karras, CFG scale: 7, Seed: 1, Size: 512x512, ...

Values containing a comma, colon or newline are written JSON-quoted, and `parse_infotext`
returns A1111's dict (`Prompt`, `Negative prompt`, every `Key: value` as strings, `Size-1` /
`Size-2` for sizes). `request_fields` maps that dict back onto GenerationRequest field names.
"""

from __future__ import annotations

import io
import json
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from studio.request import GenerationRequest

PARAM_PATTERN = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
SIZE_PATTERN = re.compile(r"^(\d+)x(\d+)$")
MASKED_CONTENT = ("fill", "original", "latent noise", "latent nothing")


def quote(value: Any) -> str:
    text = format_value(value)
    if "," not in text and "\n" not in text and ":" not in text:
        return text
    return json.dumps(text, ensure_ascii=False)


def unquote(text: str) -> str:
    if len(text) == 0 or text[0] != '"' or text[-1] != '"':
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def format_value(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def format_infotext(prompt: str, negative_prompt: str, params: Mapping[str, Any]) -> str:
    """A1111's text: prompt, optional `Negative prompt:` line, then `Key: value, ...` (None skipped)."""
    parameters = ", ".join(
        key if key == value else f"{key}: {quote(value)}"
        for key, value in params.items()
        if value is not None
    )
    negative = f"\nNegative prompt: {negative_prompt}" if negative_prompt else ""
    return f"{prompt}{negative}\n{parameters}".strip()


def generation_parameters(
    request: GenerationRequest,
    *,
    seed: int,
    subseed: int,
    model_name: str | None,
    model_hash: str | None,
    vae_name: str | None = None,
    vae_hash: str | None = None,
    version: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ordered `Key: value` parameters of one image, in A1111's order."""
    params: dict[str, Any] = {
        "Steps": request.steps,
        "Sampler": request.sampler_name,
        "Schedule type": request.scheduler,
        "CFG scale": request.cfg_scale,
        "Seed": seed,
        "Face restoration": request.face_restoration_model if request.restore_faces else None,
        "Size": f"{request.width}x{request.height}",
        "Model hash": model_hash,
        "Model": model_name,
        "VAE hash": vae_hash,
        "VAE": vae_name,
        "Variation seed": None if request.subseed_strength == 0 else subseed,
        "Variation seed strength": None if request.subseed_strength == 0 else request.subseed_strength,
        "Denoising strength": request.denoising_strength
        if request.init_images or request.enable_hr
        else None,
        "Clip skip": None if request.clip_skip <= 1 else request.clip_skip,
        # model families: written only when used
        "Original size": (
            f"{request.original_width or request.width}x{request.original_height or request.height}"
            if request.original_width or request.original_height
            else None
        ),
        "Crop top left": f"{request.crop_left}x{request.crop_top}"
        if request.crop_left or request.crop_top
        else None,
        "Distilled CFG Scale": request.distilled_cfg_scale,
        "Shift": request.flow_shift,
        "Skip layer guidance scale": request.skip_layer_guidance_scale or None,
        "Refiner": request.refiner_checkpoint,
        "Refiner switch at": request.refiner_switch_at if request.refiner_checkpoint else None,
    }
    if request.mask is not None:
        params["Mask blur"] = request.mask_blur
        if request.inpaint_full_res:
            params["Inpaint area"] = "Only masked"
            params["Masked area padding"] = request.inpaint_full_res_padding
        if request.inpainting_mask_invert:
            params["Mask mode"] = "Inpaint not masked"
        params["Masked content"] = MASKED_CONTENT[request.inpainting_fill]
    params.update(hires_parameters(request))
    params.update(extra or {})
    params["Version"] = version
    return params


def hires_parameters(request: GenerationRequest) -> dict[str, Any]:
    """The `Hires ...` keys A1111's txt2img writes (in its order), empty without hires fix."""
    if not request.enable_hr:
        return {}
    params: dict[str, Any] = {}
    if request.hr_checkpoint_name:
        params["Hires checkpoint"] = request.hr_checkpoint_name
    if request.hr_sampler_name and request.hr_sampler_name != request.sampler_name:
        params["Hires sampler"] = request.hr_sampler_name
    if request.hr_scheduler and request.hr_scheduler != request.scheduler:
        params["Hires schedule type"] = request.hr_scheduler
    if request.hr_resize_x == 0 and request.hr_resize_y == 0:
        params["Hires upscale"] = request.hr_scale
    else:
        params["Hires resize"] = f"{request.hr_resize_x}x{request.hr_resize_y}"
    if request.hr_second_pass_steps:
        params["Hires steps"] = request.hr_second_pass_steps
    params["Hires upscaler"] = request.hr_upscaler
    if request.hr_prompt and request.hr_prompt != request.prompt:
        params["Hires prompt"] = request.hr_prompt
    if request.hr_negative_prompt and request.hr_negative_prompt != request.negative_prompt:
        params["Hires negative prompt"] = request.hr_negative_prompt
    return params


def parse_infotext(text: str) -> dict[str, str]:
    """Parse A1111 infotext into {"Prompt", "Negative prompt", key: value...} (values as strings)."""
    result: dict[str, str] = {}
    prompt = ""
    negative = ""
    done_with_prompt = False
    *lines, last = text.strip().split("\n")
    if len(PARAM_PATTERN.findall(last)) < 3:
        lines.append(last)
        last = ""
    for raw in lines:
        line = raw.strip()
        if line.startswith("Negative prompt:"):
            done_with_prompt = True
            line = line[len("Negative prompt:") :].strip()
        if done_with_prompt:
            negative += ("" if negative == "" else "\n") + line
        else:
            prompt += ("" if prompt == "" else "\n") + line
    result["Prompt"] = prompt
    result["Negative prompt"] = negative
    for key, raw_value in PARAM_PATTERN.findall(last):
        value = unquote(raw_value.strip()) if raw_value.strip().startswith('"') else raw_value.strip()
        size = SIZE_PATTERN.match(value)
        if size is not None:
            result[f"{key}-1"] = size.group(1)
            result[f"{key}-2"] = size.group(2)
        result[key] = value
    return result


def request_fields(parsed: Mapping[str, str]) -> dict[str, Any]:
    """GenerationRequest field values recovered from `parse_infotext` output (known keys only)."""
    fields: dict[str, Any] = {
        "prompt": parsed.get("Prompt", ""),
        "negative_prompt": parsed.get("Negative prompt", ""),
    }
    simple = {
        "Steps": ("steps", int),
        "Sampler": ("sampler_name", str),
        "Schedule type": ("scheduler", str),
        "CFG scale": ("cfg_scale", float),
        "Seed": ("seed", int),
        "Variation seed": ("subseed", int),
        "Variation seed strength": ("subseed_strength", float),
        "Denoising strength": ("denoising_strength", float),
        "Clip skip": ("clip_skip", int),
        "Mask blur": ("mask_blur", int),
        "Masked area padding": ("inpaint_full_res_padding", int),
        "Model": ("model", str),
        "VAE": ("vae", str),
        "Distilled CFG Scale": ("distilled_cfg_scale", float),
        "Shift": ("flow_shift", float),
        "Skip layer guidance scale": ("skip_layer_guidance_scale", float),
        "Refiner": ("refiner_checkpoint", str),
        "Refiner switch at": ("refiner_switch_at", float),
    }
    for key, (name, kind) in simple.items():
        if key in parsed:
            fields[name] = kind(parsed[key])
    hires = {
        "Hires upscale": ("hr_scale", float),
        "Hires steps": ("hr_second_pass_steps", int),
        "Hires upscaler": ("hr_upscaler", str),
        "Hires sampler": ("hr_sampler_name", str),
        "Hires schedule type": ("hr_scheduler", str),
        "Hires prompt": ("hr_prompt", str),
        "Hires negative prompt": ("hr_negative_prompt", str),
        "Hires checkpoint": ("hr_checkpoint_name", str),
    }
    for key, (name, kind) in hires.items():
        if key in parsed:
            fields[name] = kind(parsed[key])
            fields["enable_hr"] = True
    if "Hires resize-1" in parsed:
        fields["hr_resize_x"] = int(parsed["Hires resize-1"])
        fields["hr_resize_y"] = int(parsed["Hires resize-2"])
        fields["enable_hr"] = True
    if "Size-1" in parsed:
        fields["width"] = int(parsed["Size-1"])
        fields["height"] = int(parsed["Size-2"])
    if "Original size-1" in parsed:
        fields["original_width"] = int(parsed["Original size-1"])
        fields["original_height"] = int(parsed["Original size-2"])
    if "Crop top left-1" in parsed:
        fields["crop_left"] = int(parsed["Crop top left-1"])
        fields["crop_top"] = int(parsed["Crop top left-2"])
    if "Face restoration" in parsed:
        fields["restore_faces"] = True
        fields["face_restoration_model"] = str(parsed["Face restoration"])
    if "Inpaint area" in parsed:
        fields["inpaint_full_res"] = parsed["Inpaint area"] == "Only masked"
    if "Mask mode" in parsed:
        fields["inpainting_mask_invert"] = int(parsed["Mask mode"] == "Inpaint not masked")
    if parsed.get("Masked content") in MASKED_CONTENT:
        fields["inpainting_fill"] = MASKED_CONTENT.index(parsed["Masked content"])
    return fields


def read_png_infotext(png_bytes: bytes) -> str | None:
    """The `parameters` text chunk of a PNG, or the EXIF UserComment of a JPEG / WebP, or None."""
    from PIL import Image

    with Image.open(io.BytesIO(png_bytes)) as image:
        text = image.info.get("parameters")
        if text is None and hasattr(image, "text"):
            text = image.text.get("parameters")
        if text is None:
            text = read_exif_infotext(image)  # JPEG / WebP as A1111 saves them
    return text if isinstance(text, str) else None


EXIF_IFD = 0x8769
USER_COMMENT = 0x9286
UNICODE_PREFIX = b"UNICODE\x00"
ASCII_PREFIX = b"ASCII\x00\x00\x00"


def user_comment_bytes(text: str) -> bytes:
    """EXIF UserComment as A1111 writes it (piexif's "unicode": a UNICODE prefix, UTF-16-BE)."""
    return UNICODE_PREFIX + text.encode("utf_16_be")


def decode_user_comment(data: bytes | str) -> str:
    """The text of an EXIF UserComment (UNICODE, ASCII or undeclared UTF-8)."""
    if isinstance(data, str):
        return data
    if data.startswith(UNICODE_PREFIX):
        body = data[len(UNICODE_PREFIX) :]
        # piexif writes big-endian; a few writers use little-endian with a BOM
        if body.startswith(b"\xff\xfe"):
            return body.decode("utf_16_le", errors="ignore").lstrip("\ufeff")
        return body.decode("utf_16_be", errors="ignore")
    if data.startswith(ASCII_PREFIX):
        return data[len(ASCII_PREFIX) :].decode("ascii", errors="ignore")
    return data.rstrip(b"\x00").decode("utf8", errors="ignore")


def read_exif_infotext(image) -> str | None:
    """The infotext a JPEG or WebP keeps in its EXIF UserComment (how A1111 saves them), or None."""
    comment = image.getexif().get_ifd(EXIF_IFD).get(USER_COMMENT)
    if not comment:
        return None
    text = decode_user_comment(comment).strip("\x00")
    return text or None


def encode_image(image, infotext: str | None, image_format: str = "png", quality: int = 80) -> bytes:
    """The image in `image_format` (png, jpg/jpeg, webp) with the infotext as A1111 stores it:
    a PNG `parameters` chunk, or the EXIF UserComment for JPEG and WebP."""
    fmt = image_format.lower()
    if fmt == "png":
        return encode_png(image, infotext)
    if fmt not in ("jpg", "jpeg", "webp"):
        raise ValueError(f"unsupported image format {image_format!r}; use png, jpg or webp")
    from PIL import Image

    exif = Image.Exif()
    if infotext:
        exif.get_ifd(EXIF_IFD)[USER_COMMENT] = user_comment_bytes(
            png_safe_text(infotext)
        )  # no raw surrogates
    buffer = io.BytesIO()
    picture = image.convert("RGB") if fmt != "webp" else image
    picture.save(buffer, format="JPEG" if fmt in ("jpg", "jpeg") else "WEBP", quality=quality, exif=exif)
    return buffer.getvalue()


def png_safe_text(text: str) -> str:
    """`text` as it may go into a PNG text chunk: control characters other than tab, newline and
    carriage return, and lone surrogates (not Unicode, no UTF-8 form), are written as visible
    escapes (`\\x00`, `\\ud800`), never raw. Requests refuse them earlier; this is the last guard."""

    def safe(char: str) -> str:
        code = ord(char)
        if 0xD800 <= code <= 0xDFFF or (char not in "\t\n\r" and unicodedata.category(char) == "Cc"):
            return char.encode("unicode_escape", "backslashreplace").decode("ascii")
        return char

    return "".join(safe(char) for char in text)


def encode_png(image, infotext: str | None) -> bytes:
    """PNG bytes of a PIL image with the infotext as the `parameters` text chunk (`png_safe_text`)."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    if infotext:
        info.add_text("parameters", png_safe_text(infotext))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()
