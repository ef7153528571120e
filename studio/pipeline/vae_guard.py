"""The VAE's dtype and its NaN check (the dtype policy's decode side).

`guard_vae` puts the VAE in the policy's dtype (fp32 beside an fp16 model: the upcast) and
wraps its `decode` and `encode` so that:
- the input is cast to the VAE's dtype, and what `encode` returns to the caller's dtype (so an
  fp32 VAE works inside an fp16 pipeline);
- a decode in low precision (fp16 / bf16) that comes out with NaN or infinity is run again with
  the VAE in fp32, which it then stays in (logged; `vae_fp32_retries(vae)` counts them, each
  result reports it). An fp32 VAE is never checked twice.
Every pipeline and every family goes through the same wrapped module, whoever calls it.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("atelier")

_RETRIES = "_atelier_fp32_retries"
_GUARDED = "_atelier_guarded"


def vae_fp32_retries(vae: Any) -> int:
    """How many decodes of `vae` came out as NaN in low precision and were run again in fp32."""
    return int(getattr(vae, _RETRIES, 0))


def _vae_dtype(vae: Any) -> Any:
    return next(vae.parameters()).dtype


def _bad(tensor: Any) -> bool:
    import torch

    return bool(not torch.isfinite(tensor).all())


def guard_vae(vae: Any, dtype: Any) -> Any:
    """Put `vae` in `dtype` and wrap its decode/encode (once; later calls only move the dtype)."""
    import torch

    if vae is None or not hasattr(vae, "decode"):
        return vae
    if _vae_dtype(vae) != dtype:
        vae.to(dtype=dtype)
    if getattr(vae, _GUARDED, False):
        return vae
    decode = vae.decode
    encode = getattr(vae, "encode", None)

    def guarded_decode(z: Any, *args: Any, **kwargs: Any) -> Any:
        dtype_now = _vae_dtype(vae)
        out = decode(z.to(dtype_now), *args, **kwargs)
        sample = out[0] if isinstance(out, tuple) else out.sample
        if dtype_now == torch.float32 or not _bad(sample):
            return out
        setattr(vae, _RETRIES, vae_fp32_retries(vae) + 1)
        log.warning(
            "VAE decode in %s gave NaN/inf: decoding again in fp32 (the VAE stays in fp32)", dtype_now
        )
        vae.to(dtype=torch.float32)
        return decode(z.to(torch.float32), *args, **kwargs)

    def guarded_encode(x: Any, *args: Any, **kwargs: Any) -> Any:
        out = encode(x.to(_vae_dtype(vae)), *args, **kwargs)
        if _vae_dtype(vae) == x.dtype:
            return out
        from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

        posterior = out[0] if isinstance(out, tuple) else getattr(out, "latent_dist", None)
        if not isinstance(posterior, DiagonalGaussianDistribution):
            return out  # another kind of VAE: its output as it is
        cast = DiagonalGaussianDistribution(posterior.parameters.to(x.dtype))
        if isinstance(out, tuple):
            return (cast,)
        out.latent_dist = cast
        return out

    vae.decode = guarded_decode
    if encode is not None:
        vae.encode = guarded_encode
    setattr(vae, _GUARDED, True)
    return vae
