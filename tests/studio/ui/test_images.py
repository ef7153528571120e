from __future__ import annotations

import io

import pytest
from PIL import Image

from studio.request import RequestError
from studio.ui.images import mask_from_layers, png_bytes, uploaded_mask
from studio.ui.img2img import MASK_SKETCH, MASK_UPLOAD, MODE_IMG2IMG, MODE_INPAINT, image_fields


def painted_layer(size=(32, 32), box=(4, 4, 12, 12)) -> Image.Image:
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    layer.paste((255, 255, 255, 200), box)
    return layer


def test_mask_from_layers_marks_painted_pixels():
    mask = mask_from_layers([None, painted_layer()], (32, 32))
    assert mask is not None and mask.mode == "L"
    assert mask.getpixel((5, 5)) == 255
    assert mask.getpixel((20, 20)) == 0
    assert mask.getbbox() == (4, 4, 12, 12)


def test_mask_from_layers_none_when_nothing_painted_and_resizes():
    assert mask_from_layers([Image.new("RGBA", (32, 32), (0, 0, 0, 0))], (32, 32)) is None
    mask = mask_from_layers([painted_layer((16, 16), (0, 0, 8, 8))], (32, 32))
    assert mask is not None and mask.size == (32, 32) and mask.getpixel((10, 10)) == 255


def test_uploaded_mask_transparent_is_black():
    image = Image.new("RGBA", (8, 8), (255, 255, 255, 0))
    image.paste((255, 255, 255, 255), (0, 0, 4, 8))
    mask = uploaded_mask(image, (16, 16))
    assert mask.size == (16, 16)
    assert mask.getpixel((1, 1)) == 255 and mask.getpixel((14, 1)) == 0


def editor(background: Image.Image | None, layers=()) -> dict:
    return {"background": background, "layers": list(layers), "composite": background}


def fields(**changes):
    values = {
        "mode": MODE_INPAINT,
        "editor_value": editor(Image.new("RGBA", (32, 32), (10, 20, 30, 255)), [painted_layer()]),
        "mask_source": MASK_SKETCH,
        "mask_image": None,
        "mask_blur": 6.0,
        "masked_content": "latent noise",
        "inpaint_area": "Only masked",
        "padding": 16.0,
        "mask_mode": "Inpaint not masked",
    }
    values.update(changes)
    return image_fields(**values)


def test_inpaint_fields_from_a_sketch():
    result = fields()
    assert result["mask_blur"] == 6 and result["inpainting_fill"] == 2
    assert result["inpaint_full_res"] is True and result["inpaint_full_res_padding"] == 16
    assert result["inpainting_mask_invert"] == 1
    mask = Image.open(io.BytesIO(result["mask"]))
    assert mask.getbbox() == (4, 4, 12, 12)
    init = Image.open(io.BytesIO(result["init_images"][0]))
    assert init.mode == "RGB" and init.getpixel((0, 0)) == (10, 20, 30)


def test_img2img_fields_have_no_mask():
    result = fields(mode=MODE_IMG2IMG)
    assert set(result) == {"init_images"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"editor_value": editor(None)}, "init_images"),
        ({"editor_value": editor(Image.new("RGBA", (32, 32)))}, "mask"),  # nothing painted
        ({"mask_source": MASK_UPLOAD, "mask_image": None}, "mask"),
    ],
)
def test_missing_images_name_the_field(changes, field):
    with pytest.raises(RequestError) as error:
        fields(**changes)
    assert error.value.field == field


def test_png_bytes_round_trip():
    image = Image.new("RGB", (4, 4), (1, 2, 3))
    assert Image.open(io.BytesIO(png_bytes(image))).getpixel((0, 0)) == (1, 2, 3)
