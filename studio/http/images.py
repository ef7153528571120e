"""Images in API payloads: base64 in, base64 PNG out, with errors that name the field."""

from __future__ import annotations

import base64
import io
import warnings

from PIL import Image

from studio.request import RequestError, decode_base64

MAX_IMAGE_PIXELS = 4096 * 4096


def decode_image(value: object, field_name: str, max_pixels: int = MAX_IMAGE_PIXELS) -> bytes:
    """Base64 (or a data URL) -> the encoded image bytes, checked to decode as an image.

    Raises RequestError naming `field_name` for bad base64, undecodable data or a too-large image.
    """
    if not isinstance(value, str | bytes):
        raise RequestError(field_name, f"expected a base64 string, got {type(value).__name__}")
    data = decode_base64(value, field_name)
    if not data:
        raise RequestError(field_name, "empty image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise RequestError(
                        field_name, f"image is {width}x{height}; at most {max_pixels} pixels allowed"
                    )
                image.verify()
    except RequestError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise RequestError(field_name, f"image too large ({error})") from error
    except Image.UnidentifiedImageError as error:
        raise RequestError(field_name, "not a decodable image (unknown image format)") from error
    except Exception as error:
        raise RequestError(field_name, f"not a decodable image ({type(error).__name__}: {error})") from error
    return data


def encode_png_base64(png: bytes) -> str:
    return base64.b64encode(png).decode("ascii")


def to_png(data: bytes) -> bytes:
    """Any decodable image -> PNG bytes (PNGs are returned unchanged)."""
    if data.startswith(b"\x89PNG"):
        return data
    with Image.open(io.BytesIO(data)) as image:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()
