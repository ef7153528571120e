"""The A1111 request bodies `/sdapi/v1` accepts (txt2img, img2img, png-info), as pydantic
models: field names and defaults as A1111 declares them, plus the fields of Atelier's features
(hires fix, model families) under A1111's or Forge's names."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Txt2ImgBody(BaseModel):
    """A1111's StableDiffusionTxt2ImgProcessingAPI (the fields Atelier uses; others are accepted)."""

    model_config = ConfigDict(extra="allow")

    prompt: str = ""
    negative_prompt: str = ""
    styles: list[str] | None = None
    seed: int = -1
    subseed: int = -1
    subseed_strength: float = 0.0
    sampler_name: str | None = None
    sampler_index: str | None = None
    scheduler: str | None = None
    batch_size: int = 1
    n_iter: int = 1
    steps: int = 50
    cfg_scale: float = 7.0
    width: int = 512
    height: int = 512
    denoising_strength: float | None = None
    override_settings: dict[str, Any] | None = None
    override_settings_restore_afterwards: bool = True
    script_name: str | None = None
    script_args: list[Any] = Field(default_factory=list)
    alwayson_scripts: dict[str, Any] = Field(default_factory=dict)
    send_images: bool = True
    save_images: bool = False
    enable_hr: bool = False
    hr_scale: float = 2.0
    hr_upscaler: str | None = None
    hr_second_pass_steps: int = 0
    hr_resize_x: int = 0
    hr_resize_y: int = 0
    hr_checkpoint_name: str | None = None
    hr_sampler_name: str | None = None
    hr_scheduler: str | None = None
    hr_prompt: str = ""
    hr_negative_prompt: str = ""
    restore_faces: bool | None = None  # the restorer and CodeFormer's weight come from the options
    # A1111's SDXL refiner, Forge's Flux guidance, and Atelier's family fields (docs/models.md)
    refiner_checkpoint: str | None = None
    refiner_switch_at: float | None = None
    distilled_cfg_scale: float | None = None
    flow_shift: float | None = None
    skip_layer_guidance_scale: float = 0.0
    original_width: int = 0
    original_height: int = 0
    crop_left: int = 0
    crop_top: int = 0


class Img2ImgBody(Txt2ImgBody):
    init_images: list[Any] | None = None
    resize_mode: int = 0
    denoising_strength: float | None = 0.75
    mask: Any | None = None
    mask_blur: int | None = None
    inpainting_fill: int = 0
    inpaint_full_res: bool | int = True
    inpaint_full_res_padding: int = 0
    inpainting_mask_invert: int = 0
    include_init_images: bool = False


class PngInfoBody(BaseModel):
    image: Any = ""
