"""Composable prompts (`a castle AND a forest :0.7`) inside diffusers' own sampling loop.

A1111 evaluates the model once per part and combines the guidance as
`uncond + cfg * sum(weight_i * (cond_i - uncond))`. diffusers computes
`uncond + cfg * (cond - uncond)` from a UNet call on the batch [negative; positive]. Two hooks
on the UNet turn one into the other, for the length of one pipeline call: before the call the
batch becomes [negative; part 1; ...; part k] (the same latents for every part, each part's
embeddings for the current step), and after it the positive half of the output becomes
`uncond + sum(weight_i * (cond_i - uncond))`. The UNet runs once per step on the larger batch,
like A1111 with "batch cond/uncond" on. Steps are counted per UNet call, as A1111 counts
model evaluations. Needs classifier-free guidance (CFG scale above 1; checked on requests).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from studio.pipeline.conditioning import ScheduledEmbeds


@contextmanager
def composable_guidance(unet: Any, parts: list[ScheduledEmbeds], negative: ScheduledEmbeds) -> Iterator[None]:
    import torch

    step = 0
    images = 0

    def before(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple, dict]:
        nonlocal images
        args, kwargs = list(args), dict(kwargs)
        sample = args[0] if args else kwargs["sample"]
        current = kwargs["encoder_hidden_states"]
        if sample.shape[0] % 2:
            raise RuntimeError("composable prompts need classifier-free guidance (CFG scale above 1)")
        images = sample.shape[0] // 2
        count = len(parts)

        def widen(tensor: Any) -> Any:  # [uncond; cond] -> [uncond; cond x count]
            return torch.cat([tensor[:images], *[tensor[images:]] * count])

        embeds = [negative.at(step), *(part.at(step) for part in parts)]
        kwargs["encoder_hidden_states"] = torch.cat([e.repeat(images, 1, 1) for e in embeds]).to(
            device=current.device, dtype=current.dtype
        )
        if args:
            args[0] = widen(sample)
        else:
            kwargs["sample"] = widen(sample)
        timestep = args[1] if len(args) > 1 else kwargs.get("timestep")
        if isinstance(timestep, torch.Tensor) and timestep.ndim and timestep.shape[0] == 2 * images:
            if len(args) > 1:
                args[1] = widen(timestep)
            else:
                kwargs["timestep"] = widen(timestep)
        return tuple(args), kwargs

    def after(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Any:
        nonlocal step
        step += 1
        noise = output[0] if isinstance(output, tuple) else output.sample
        uncond = noise[:images]
        combined = uncond.clone()
        for index, part in enumerate(parts):
            cond = noise[images * (index + 1) : images * (index + 2)]
            combined += (cond - uncond) * part.weight
        result = torch.cat([uncond, combined])
        if isinstance(output, tuple):
            return (result, *output[1:])
        output.sample = result
        return output

    handles = [
        unet.register_forward_pre_hook(before, with_kwargs=True),
        unet.register_forward_hook(after, with_kwargs=True),
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
