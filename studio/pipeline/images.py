"""Image preparation for img2img and inpaint (A1111 semantics), PIL only."""

from __future__ import annotations

import io

from PIL import Image, ImageFilter, ImageOps, ImageStat

from studio.request import RequestError


def open_image(data: bytes, field_name: str) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as error:
        raise RequestError(field_name, f"not a readable image ({error})") from error
    return image


def prepare_init_image(
    data: bytes, width: int, height: int, field_name: str = "init_images[0]"
) -> Image.Image:
    """RGB, resized to the request size (A1111 resize mode "Just resize")."""
    image = ImageOps.exif_transpose(open_image(data, field_name)).convert("RGB")
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.LANCZOS)
    return image


def prepare_mask(data: bytes, width: int, height: int, invert: bool, blur: int) -> Image.Image:
    """Greyscale mask (white = repaint) at the request size, inverted and Gaussian-blurred as asked.

    A mask with an alpha channel uses it (transparent = keep), like A1111's mask upload.
    """
    image = open_image(data, "mask")
    if image.mode in ("RGBA", "LA"):
        image = image.getchannel("A")
    mask = image.convert("L")
    if mask.size != (width, height):
        mask = mask.resize((width, height), Image.Resampling.NEAREST)
    if invert:
        mask = ImageOps.invert(mask)
    if blur > 0:
        mask = mask.filter(ImageFilter.GaussianBlur(blur))
    return mask


def fill_masked(image: Image.Image, mask: Image.Image, fill: int) -> Image.Image:
    """A1111 "Masked content": 0 fill (average colour of the kept area), 1 original,
    2 latent noise (handled by the engine as full-strength noise), 3 latent nothing (mid grey)."""
    if fill in (1, 2):
        return image
    hard = mask.point(lambda v: 255 if v > 0 else 0)
    if fill == 0:
        keep = ImageOps.invert(hard)
        colour = (
            tuple(int(c) for c in ImageStat.Stat(image, keep).mean) if keep.getbbox() else (127, 127, 127)
        )
    else:
        colour = (127, 127, 127)
    return Image.composite(Image.new("RGB", image.size, colour), image, hard)


def composite_inpaint(generated: Image.Image, original: Image.Image, mask: Image.Image) -> Image.Image:
    """Paste the generated pixels over the original through the (blurred) mask: outside it the
    original is returned untouched."""
    if generated.size != original.size:
        generated = generated.resize(original.size, Image.Resampling.LANCZOS)
    return Image.composite(generated.convert("RGB"), original, mask)


def masked_crop_box(
    mask: Image.Image, padding: int, width: int, height: int
) -> tuple[int, int, int, int] | None:
    """A1111's "Only masked" region: the mask's bounding box grown by `padding`, then widened to
    the processing aspect ratio `width:height`, kept inside the image. None for an empty mask."""
    box = mask.point(lambda v: 255 if v > 0 else 0).getbbox()
    if box is None:
        return None
    image_w, image_h = mask.size
    x1, y1, x2, y2 = (
        max(box[0] - padding, 0),
        max(box[1] - padding, 0),
        min(box[2] + padding, image_w),
        min(box[3] + padding, image_h),
    )
    if (x2 - x1) / (y2 - y1) > width / height:
        grow = int((x2 - x1) * height / width - (y2 - y1))
        y1, y2 = y1 - grow // 2, y2 + grow - grow // 2
        if y2 > image_h:
            y1, y2 = y1 - (y2 - image_h), image_h
        if y1 < 0:
            y1, y2 = 0, min(y2 - y1, image_h)
    else:
        grow = int((y2 - y1) * width / height - (x2 - x1))
        x1, x2 = x1 - grow // 2, x2 + grow - grow // 2
        if x2 > image_w:
            x1, x2 = x1 - (x2 - image_w), image_w
        if x1 < 0:
            x1, x2 = 0, min(x2 - x1, image_w)
    return x1, y1, x2, y2
