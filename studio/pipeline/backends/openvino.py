"""OpenVINO as the engine's backend for the UNet and the VAE decoder (SD 1.x, SD 2.x, SDXL).

Only the two heavy modules run through OpenVINO; everything else stays the PyTorch path: the
scheduler (every sampler and schedule type), the seeds and noise, the text encoders and prompt
language, the step callbacks (progress, previews, interrupt between steps, prompt editing) and
the image encoder of img2img/inpaint.

- Export: `openvino.convert_model` traces the PyTorch module as it is at the first step of a job
  (so fused LoRAs are in it) with dynamic shapes, and `openvino.save_model` writes the IR under
  `<models>/OpenVINO/<key>/`, the key a digest of the checkpoint's SHA-256, the VAE's, the fused
  LoRA set and the OpenVINO version. The next load (or the next studio) reads it instead of
  exporting again; the last `DISK_VARIANTS` keys of a checkpoint are kept on disk.
- Static shapes: each (batch, height, width) is reshaped to a static model and compiled
  (OpenVINO's fastest path on CPU); the last `COMPILED_SIZES` sizes per module stay compiled in
  memory, and OpenVINO's own model cache (`CACHE_DIR`, same folder) makes a recompile quick.
- Precision: OpenVINO's CPU default (bf16 on CPUs with AVX-512 bf16 or AMX, f32 elsewhere);
  the UNet in int8 with `openvino_int8` (made from the export by `openvino_int8.py`, kept beside it).
  Threads: as many as torch uses, so the studio's thread cap holds.

Not supported with this backend (refused by field before a job starts, `refusals`): ControlNet
units, families other than SD 1.x/2.x/SDXL, sizes the UNet cannot trace (width and height must be
multiples of 8 x 2^(up blocks - 1): 64 px for SD 1.5), quantized UNets. Interrupt and skip act
between steps, not inside one.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import shutil
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SUPPORTED_FAMILIES = ("sd15", "sd2", "sdxl")
COMPILED_SIZES = 4  # compiled static sizes kept in memory, per module
DISK_VARIANTS = 3  # exported IR folders kept on disk, per checkpoint
CACHE_FOLDER = "OpenVINO"
INSTALL_HINT = "pip install 'atelier[openvino]' (or pip install 'openvino>=2025.1')"


class OpenVinoUnavailable(RuntimeError):
    """The `openvino` package cannot be imported (the message says why and how to install it)."""


def import_openvino() -> Any:
    try:
        import openvino
    except ImportError as error:
        raise OpenVinoUnavailable(f"openvino is not installed ({error}); {INSTALL_HINT}") from None
    return openvino


def unavailable_reason() -> str | None:
    """Why the OpenVINO backend cannot run here, or None when it can."""
    try:
        import_openvino()
    except OpenVinoUnavailable as error:
        return str(error)
    return None


def latent_multiple(unet_config: Any) -> int:
    """The traced UNet takes latent sides that are multiples of this (its up-sampling factor)."""
    ups = len(getattr(unet_config, "up_block_types", ()) or ()) or 1
    return 2 ** max(0, ups - 1)


def refusals(
    family: str, width: int, height: int, step: int, controlnet: bool, quantized: bool
) -> dict[str, str]:
    """Field -> why a request cannot run on the OpenVINO backend (empty: it can); `step`: the
    pixel multiple the family's UNet takes (8 px per latent x `latent_multiple`)."""
    problems: dict[str, str] = {}
    if family not in SUPPORTED_FAMILIES:
        problems["model"] = (
            f"the openvino backend runs SD 1.x, SD 2.x and SDXL models, not {family}; "
            "set backend to torch for this model"
        )
        return problems
    for name, value in (("width", width), ("height", height)):
        if value % step:
            problems[name] = f"the openvino backend needs a multiple of {step} px for this model, got {value}"
    if controlnet:
        problems["controlnet_units"] = "ControlNet does not run on the openvino backend; set backend to torch"
    if quantized:
        problems["quantize_unet"] = (
            "the openvino backend exports the UNet itself: set quantize_unet to none to use it"
        )
    return problems


# -- the traced modules ---------------------------------------------------------------------------
def _unet_wrapper(unet: Any) -> Any:
    import torch

    class UNetTensors(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.unet = unet

        def forward(self, sample: Any, timestep: Any, encoder_hidden_states: Any, *added: Any) -> Any:
            extra = {"added_cond_kwargs": {"text_embeds": added[0], "time_ids": added[1]}} if added else {}
            # the class's forward: not the OpenVINO one the instance has while a job runs, no hooks
            return type(self.unet).forward(
                self.unet,
                sample,
                timestep,
                encoder_hidden_states=encoder_hidden_states,
                return_dict=False,
                **extra,
            )[0]

    return UNetTensors()


def _decoder_wrapper(vae: Any) -> Any:
    import torch

    class VaeDecode(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.vae = vae

        def forward(self, latents: Any) -> Any:
            return type(self.vae).decode(self.vae, latents, return_dict=False)[0]

    return VaeDecode()


def _fp32(module: Any) -> Any:
    """`module` itself when in fp32, else an fp32 copy to export from (numpy has no bf16)."""
    import torch

    if next(module.parameters()).dtype == torch.float32:
        return module
    return copy.deepcopy(module).float()


def _unet_example(unet: Any) -> tuple[Any, ...]:
    import torch

    config = unet.config
    size = 8 * latent_multiple(config)
    sample = torch.randn(2, config.in_channels, size, size)
    timestep = torch.tensor(999.0)
    context = torch.randn(2, 77, config.cross_attention_dim)
    if config.addition_embed_type == "text_time":
        time_ids = torch.zeros(2, 6)
        width = config.projection_class_embeddings_input_dim - 6 * config.addition_time_embed_dim
        return sample, timestep, context, torch.randn(2, width), time_ids
    return sample, timestep, context


# -- one checkpoint's OpenVINO models ---------------------------------------------------------------
class _Compiled:
    """One exported module: its IR on disk and its compiled static sizes (LRU)."""

    def __init__(self, core: Any, xml: Path, threads: int) -> None:
        self.core = core
        self.model = core.read_model(str(xml))
        self.cache_dir = xml.parent / "compiled"
        self.threads = threads
        self.sizes: OrderedDict[tuple[tuple[int, ...], ...], Any] = OrderedDict()
        self.compiles = 0

    def run(self, inputs: Sequence[Any]) -> Any:
        import numpy as np
        import torch

        arrays = [item.detach().to(torch.float32).cpu().contiguous().numpy() for item in inputs]
        shapes = tuple(tuple(array.shape) for array in arrays)
        compiled = self.sizes.get(shapes)
        if compiled is None:
            model = self.model.clone()
            model.reshape({index: list(shape) for index, shape in enumerate(shapes)})
            config = {"CACHE_DIR": str(self.cache_dir), "INFERENCE_NUM_THREADS": self.threads}
            compiled = self.core.compile_model(model, "CPU", config)
            self.compiles += 1
            while len(self.sizes) >= COMPILED_SIZES:
                self.sizes.popitem(last=False)
            self.sizes[shapes] = compiled
        self.sizes.move_to_end(shapes)
        return torch.from_numpy(np.asarray(compiled(arrays)[0]).copy())


class OpenVinoModels:
    """The exported UNet and VAE decoders of one loaded checkpoint, by variant key."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder  # <models>/OpenVINO/<checkpoint digest>
        self._compiled: dict[str, _Compiled] = {}
        self.exports = 0  # exports made by this object (the rest were read from disk)
        self.quantizations = 0  # int8 UNets made by this object

    def module(
        self,
        kind: str,
        key: str,
        torch_module: Any,
        example: tuple[Any, ...],
        int8_texts: Callable[[], Sequence[tuple[Any, ...]]] | None = None,
    ) -> _Compiled:
        """The compiled-sizes holder of `kind` ("unet" | "vae_decoder") for variant `key`,
        exporting `torch_module` when no IR is on disk for it. With `int8_texts` (the calibration
        conditioning, asked for only when it is needed): its int8 version (`openvino_int8`,
        made from the exported IR once and kept beside it)."""
        import torch

        name = f"{kind}-{key}"
        held = name if int8_texts is None else f"{name}-int8"
        if held in self._compiled:
            return self._compiled[held]
        ov = import_openvino()
        folder = self.folder / name
        xml = folder / f"{kind}.xml"
        if not (folder / "done.json").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            log.warning("openvino: exporting %s for %s (once; kept in %s)", kind, self.folder.name, folder)
            source = _fp32(torch_module)
            wrapper = _unet_wrapper(source) if kind == "unet" else _decoder_wrapper(source)
            with torch.no_grad(), warnings.catch_warnings():
                # tracing warns at each Python branch on a shape; those branches are what
                # `latent_multiple` guards (the model is traced at a size each branch agrees with)
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                warnings.filterwarnings("ignore", "`torch.jit.trace", DeprecationWarning)
                model = ov.convert_model(wrapper, example_input=example)
            ov.save_model(model, str(xml), compress_to_fp16=False)
            (folder / "done.json").write_text(json.dumps({"openvino": ov.__version__}), encoding="utf-8")
            self.exports += 1
            del model, wrapper, source
        else:
            (folder / "done.json").touch()  # most recently used
        if int8_texts is not None:
            xml = self._int8(ov, xml, example, int8_texts)
        self._prune_disk(kind)
        # newest-first on disk; the in-memory holders of older variants are dropped
        for old in [other for other in self._compiled if other.startswith(f"{kind}-")]:
            del self._compiled[old]
        self._compiled[held] = _Compiled(ov.Core(), xml, max(1, torch.get_num_threads()))
        return self._compiled[held]

    def _int8(
        self, ov: Any, xml: Path, example: tuple[Any, ...], texts: Callable[[], Sequence[tuple[Any, ...]]]
    ) -> Path:
        """The int8 IR beside the exported `xml`, quantized now when it is not on disk yet."""
        from studio.pipeline.backends.openvino_int8 import quantize_unet

        int8_xml = xml.with_name(f"{xml.stem}-int8.xml")
        done = xml.with_name("int8.json")
        if not done.exists():
            log.warning("openvino: quantizing %s to int8 (once; kept in %s)", xml.name, xml.parent)
            quantized = quantize_unet(ov.Core().read_model(str(xml)), example, texts())
            ov.save_model(quantized, str(int8_xml), compress_to_fp16=False)
            done.write_text(json.dumps({"openvino": ov.__version__}), encoding="utf-8")
            self.quantizations += 1
        return int8_xml

    def compiles(self) -> int:
        return sum(item.compiles for item in self._compiled.values())

    def _prune_disk(self, kind: str) -> None:
        variants = sorted(
            (path for path in self.folder.glob(f"{kind}-*") if (path / "done.json").exists()),
            key=lambda path: (path / "done.json").stat().st_mtime_ns,
            reverse=True,
        )
        for path in variants[DISK_VARIANTS:]:
            shutil.rmtree(path, ignore_errors=True)


def lora_key(loras: Sequence[tuple[str, Any]]) -> str:
    """A digest of the fused LoRA set: (file SHA-256, weights) pairs."""
    return _digest(json.dumps([[sha, repr(weights)] for sha, weights in loras]))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class OpenVinoBackend:
    """The engine's OpenVINO models, per loaded checkpoint (one lock: one job at a time)."""

    def __init__(self, models_path: Path) -> None:
        self.models_path = models_path
        self._models: dict[str, OpenVinoModels] = {}
        self._lock = threading.Lock()

    def models_for(self, checkpoint_sha256: str) -> OpenVinoModels:
        ov = import_openvino()
        key = _digest(f"{checkpoint_sha256}:{ov.__version__}")
        if key not in self._models:
            self._models[key] = OpenVinoModels(self.models_path / CACHE_FOLDER / key)
        return self._models[key]

    def forget(self, keep: Sequence[str]) -> None:
        """Drop the in-memory models of checkpoints not in `keep` (their SHA-256s)."""
        ov = import_openvino()
        wanted = {_digest(f"{sha}:{ov.__version__}") for sha in keep}
        for key in [key for key in self._models if key not in wanted]:
            del self._models[key]

    @contextmanager
    def running(
        self,
        checkpoint_sha256: str,
        unet: Any,
        vae: Any,
        vae_sha256: str,
        loras: Sequence[tuple[str, Any]],
        result_warnings: list[str],
        int8_texts: Callable[[], Sequence[tuple[Any, ...]]] | None = None,
    ) -> Iterator[OpenVinoModels]:
        """Within the block, `unet` and `vae.decode` run through OpenVINO (exported on first
        use for this LoRA set and VAE; the UNet in int8 when `int8_texts` gives its calibration
        conditioning: `openvino_int8.encode_calibration_prompts`). A latent size the traced
        UNet cannot take (a hires pass's, say) runs on torch, with a warning in
        `result_warnings`."""
        models = self.models_for(checkpoint_sha256)
        unet_key = lora_key(loras)
        vae_key = _digest(vae_sha256)

        def unet_forward(
            sample: Any, timestep: Any, encoder_hidden_states: Any, *args: Any, **kwargs: Any
        ) -> Any:
            from diffusers.models.unets.unet_2d_condition import UNet2DConditionOutput

            unsupported = [
                name
                for name in (
                    "down_block_additional_residuals",
                    "mid_block_additional_residual",
                    "timestep_cond",
                )
                if kwargs.get(name) is not None
            ]
            if args or unsupported or kwargs.get("cross_attention_kwargs"):
                raise RuntimeError(f"the openvino UNet does not take {unsupported or 'these arguments'}")
            import torch

            multiple = latent_multiple(unet.config)
            if any(side % multiple for side in sample.shape[-2:]):
                factor = 2 ** (len(vae.config.block_out_channels) - 1)  # pixels per latent
                message = (
                    f"backend openvino: {sample.shape[-1] * factor}x{sample.shape[-2] * factor} px is not a "
                    f"multiple of {multiple * factor} px; that pass ran on torch"
                )
                if message not in result_warnings:
                    log.warning(message)
                    result_warnings.append(message)
                return type(unet).forward(unet, sample, timestep, encoder_hidden_states, *args, **kwargs)
            step = torch.as_tensor(timestep, dtype=torch.float32).reshape(-1)[:1].reshape(())
            inputs = [sample, step, encoder_hidden_states]
            added = kwargs.get("added_cond_kwargs")
            if unet.config.addition_embed_type == "text_time":
                inputs += [added["text_embeds"], added["time_ids"]]
            out = unet_model.run(inputs).to(sample.dtype)
            return (out,) if kwargs.get("return_dict") is False else UNet2DConditionOutput(sample=out)

        def vae_decode(latents: Any, return_dict: bool = True, generator: Any = None) -> Any:
            from diffusers.models.autoencoders.vae import DecoderOutput

            out = decoder.run([latents]).to(latents.dtype)
            return DecoderOutput(sample=out) if return_dict else (out,)

        import torch

        with self._lock:
            unet_model = models.module("unet", unet_key, unet, _unet_example(unet), int8_texts)
            decoder = models.module(
                "vae_decoder", vae_key, vae, (torch.randn(1, vae.config.latent_channels, 8, 8),)
            )
            unet.forward = unet_forward
            vae.decode = vae_decode
            try:
                yield models
            finally:
                del unet.forward
                del vae.decode
