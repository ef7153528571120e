"""Upscalers: the built-in ones (None, Lanczos, Nearest, A1111's latent modes) and model
upscalers (ESRGAN, RealESRGAN, SwinIR, DAT ... files loaded with spandrel), in one registry.

`registry.UpscalerRegistry` is filled by the `register_upscalers` hook (the built-ins through
`studio.scripts.registries.BuiltinRegistrations`, like samplers); `models.ModelUpscalers`
scans the A1111 model folders and runs a model with tiled inference (`tiles`).
"""
