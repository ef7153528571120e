"""Caption stamp: an example extension using several hooks and typed parameters.

Enable it per request with `scripts={"Caption stamp": {"text": "draft", "position": "top-left"}}`
(or A1111's `alwayson_scripts: {"caption stamp": {"args": ["draft", "top-left"]}}`).
It imports only `studio.api`, the stable extension surface.
"""

from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont

from studio.api import Param, Script, hookimpl, replace

POSITIONS = ("bottom-right", "bottom-left", "top-right", "top-left")


def stamp(image: Image.Image, text: str, position: str, opacity: float) -> Image.Image:
    """The image with `text` on a translucent band in the chosen corner."""
    base = image.convert("RGBA")
    size = max(10, min(base.width, base.height) // 8)
    font = ImageFont.load_default(size=size)
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    pad = max(2, size // 4)
    width, height = right - left + 2 * pad, bottom - top + 2 * pad
    x = pad if position.endswith("left") else base.width - width - pad
    y = pad if position.startswith("top") else base.height - height - pad
    alpha = int(255 * opacity)
    draw.rectangle((x, y, x + width, y + height), fill=(0, 0, 0, alpha // 2))
    draw.text((x + pad - left, y + pad - top), text, font=font, fill=(255, 255, 255, alpha))
    return Image.alpha_composite(base, layer).convert(image.mode if image.mode in ("RGB", "RGBA") else "RGB")


class CaptionStamp(Script):
    name = "Caption stamp"
    description = "Prefix the prompt, stamp a caption on each image, optionally stop after N steps."
    kind = "alwayson"
    params = (
        Param("text", "str", default="Atelier", help="the caption drawn on the image"),
        Param("position", "choice", default="bottom-right", choices=POSITIONS),
        Param("opacity", "float", default=0.9, minimum=0.0, maximum=1.0, step=0.05),
        Param("prompt_prefix", "str", default="", help="put in front of the prompt, e.g. 'photo of'"),
        Param("stop_after_steps", "int", default=0, minimum=0, maximum=150, help="0 = run all steps"),
    )

    @hookimpl
    def before_process(self, request, args):
        prefix = args["prompt_prefix"].strip()
        if prefix and not request.prompt.startswith(prefix):
            return replace(request, prompt=f"{prefix} {request.prompt}".strip())
        return None

    @hookimpl
    def on_step(self, info, control, args):
        if args["stop_after_steps"] and info.step >= args["stop_after_steps"]:
            control.interrupt()

    @hookimpl
    def postprocess_image(self, request, args, image, infotext):
        text = args["text"]
        if not text:
            return None
        stamped = stamp(image, text, args["position"], args["opacity"])
        return stamped, f"{infotext}, Caption stamp: {text}"

    @hookimpl
    def api(self, router):
        from fastapi import Response

        @router.get("/preview", response_class=Response)
        def preview(text: str = "Atelier", position: str = "bottom-right"):
            if position not in POSITIONS:
                position = "bottom-right"
            image = stamp(Image.new("RGB", (256, 128), (90, 110, 140)), text, position, 0.9)
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            return Response(buffer.getvalue(), media_type="image/png")
