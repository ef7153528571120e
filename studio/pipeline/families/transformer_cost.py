"""The cost profile's replay of a transformer denoiser (`studio.pipeline.cost_profile`): one
call of SD 3.5's, Flux.1's or Chroma's transformer on torch's meta device, shapes only, with the text
tokens each family's pipeline gives it (Flux.1 dev: 512 T5 tokens; SD 3.5: 77 CLIP + 256 T5).

Flux works on 2x2 patches of the latent, packed into a sequence; SD 3.5 patches inside its
transformer. The image and text tokens attend jointly (one attention over both), which the
replay counts as self-attention: it grows with the square of the pixel count.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

FLUX_TEXT_TOKENS = 512
SD3_TEXT_TOKENS = 77 + 256


def transformer_call(model: Any, latent: int) -> Callable[[], None]:
    """A call of `model` (built on the meta device) at `latent` x `latent` latent pixels."""
    import torch

    from studio.pipeline.cost_profile import UnsupportedModel

    config = model.config
    meta = torch.device("meta")
    name = type(model).__name__
    if name == "FluxTransformer2DModel":
        patches = (latent // 2) ** 2

        def flux() -> None:
            extra = {"guidance": torch.empty(1, device=meta)} if config.guidance_embeds else {}
            model(
                hidden_states=torch.empty(1, patches, config.in_channels, device=meta),
                encoder_hidden_states=torch.empty(
                    1, FLUX_TEXT_TOKENS, config.joint_attention_dim, device=meta
                ),
                pooled_projections=torch.empty(1, config.pooled_projection_dim, device=meta),
                timestep=torch.empty(1, device=meta),
                img_ids=torch.empty(patches, 3, device=meta),
                txt_ids=torch.empty(FLUX_TEXT_TOKENS, 3, device=meta),
                **extra,
            )

        return flux
    if name == "ChromaTransformer2DModel":  # Flux's, without the pooled CLIP vector and guidance
        patches = (latent // 2) ** 2

        def chroma() -> None:
            model(
                hidden_states=torch.empty(1, patches, config.in_channels, device=meta),
                encoder_hidden_states=torch.empty(
                    1, FLUX_TEXT_TOKENS, config.joint_attention_dim, device=meta
                ),
                timestep=torch.empty(1, device=meta),
                img_ids=torch.empty(patches, 3, device=meta),
                txt_ids=torch.empty(FLUX_TEXT_TOKENS, 3, device=meta),
            )

        return chroma
    if name == "SD3Transformer2DModel":

        def sd3() -> None:
            model(
                hidden_states=torch.empty(1, config.in_channels, latent, latent, device=meta),
                encoder_hidden_states=torch.empty(
                    1, SD3_TEXT_TOKENS, config.joint_attention_dim, device=meta
                ),
                pooled_projections=torch.empty(1, config.pooled_projection_dim, device=meta),
                timestep=torch.empty(1, device=meta),
            )

        return sd3
    raise UnsupportedModel(
        "the cost estimate knows UNet2DConditionModel, SD3Transformer2DModel, FluxTransformer2DModel and "
        f"ChromaTransformer2DModel denoisers, not {name}"
    )
