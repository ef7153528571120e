"""Train the Atelier starter model: tokenizer files, CLIP text encoder, VAE and UNet, from scratch.

    python launch.py train-starter --output runs/starter --export models/Diffusers/atelier-starter

Stages (each with its own time budget, all resumable with `--resume`):

1. tokenizer: a CLIP tokenizer that knows the data set's vocabulary as whole words;
2. vae: an AutoencoderKL (64x64x3 <-> 16x16x4) on the procedural images;
3. latents: the data set encoded once with the trained VAE (cached in the output folder);
4. unet: the text encoder and the UNet trained together on the v-prediction loss, with
   the caption dropped (empty prompt) 10% of the time so classifier-free guidance works.

The result is a standard diffusers `StableDiffusionPipeline` folder (`<output>/pipeline`), and,
with `--export`, a copy with fp16 safetensors for shipping. Loss goes to stdout and
`<output>/loss.csv`. Checkpoints (`<output>/checkpoint.pt`) are written every few minutes and
at the end of each stage; `--resume` continues from the last one with the remaining budget.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# DDPM's linear schedule, not SD's "scaled_linear": on 16x16 latents scaled_linear leaves so much
# signal at t=999 (SNR 0.005) that the low frequencies of the starting noise, not the prompt,
# decide the background colour and where the shape goes. Linear ends at SNR 4e-5; with so
# little signal left, epsilon prediction cannot place anything, so the UNet predicts v (as
# SD 2.x does), which at high noise is the clean image itself.
SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.0001,
    "beta_end": 0.02,
    "beta_schedule": "linear",
    "prediction_type": "v_prediction",
    "steps_offset": 1,
    "timestep_spacing": "trailing",
}
TEXT_LENGTH = 16  # tokens per prompt, bos/eos included; captions are at most 13 words


@dataclass(frozen=True)
class Settings:
    output: Path
    export: Path | None
    device: str
    seed: int
    resolution: int
    dataset_size: int
    vae_minutes: float
    unet_minutes: float
    vae_steps: int
    vae_crop: int
    unet_steps: int
    vae_batch_size: int
    batch_size: int
    vae_lr: float
    unet_lr: float
    text_lr: float
    caption_dropout: float
    ema_decay: float
    checkpoint_minutes: float
    log_every: int
    threads: int
    resume: bool
    export_fp16: bool


def parse_args(argv: list[str]) -> Settings:
    parser = argparse.ArgumentParser(prog="launch.py train-starter", description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, default=Path("outputs/starter-training"))
    parser.add_argument("--export", type=Path, default=None, help="also write a shippable fp16 copy here")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resolution", type=int, default=64, choices=(32, 64, 128))
    parser.add_argument("--dataset-size", type=int, default=40000)
    parser.add_argument("--vae-minutes", type=float, default=8.0)
    parser.add_argument("--unet-minutes", type=float, default=57.0)
    parser.add_argument("--vae-steps", type=int, default=1_000_000, help="stop the VAE stage after this many")
    parser.add_argument(
        "--unet-steps", type=int, default=1_000_000, help="stop the UNet stage after this many"
    )
    parser.add_argument(
        "--vae-crop", type=int, default=32, help="train the VAE on random crops this big (0: whole)"
    )
    parser.add_argument("--vae-batch-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--vae-lr", type=float, default=1e-3)
    parser.add_argument("--unet-lr", type=float, default=6e-4)
    parser.add_argument("--text-lr", type=float, default=3e-4)
    parser.add_argument("--caption-dropout", type=float, default=0.1)
    parser.add_argument("--ema-decay", type=float, default=0.998)
    parser.add_argument("--checkpoint-minutes", type=float, default=5.0)
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--resume", action="store_true", help="continue from <output>/checkpoint.pt")
    parser.add_argument("--export-fp32", action="store_true", help="export fp32 weights instead of fp16")
    args = parser.parse_args(argv)
    for name in ("dataset_size", "vae_batch_size", "batch_size", "log_every"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: must be at least 1")
    if not 0 <= args.caption_dropout < 1:
        parser.error("--caption-dropout: must be in [0, 1)")
    return Settings(
        output=args.output,
        export=args.export,
        device=args.device,
        seed=args.seed,
        resolution=args.resolution,
        dataset_size=args.dataset_size,
        vae_minutes=args.vae_minutes,
        unet_minutes=args.unet_minutes,
        vae_steps=args.vae_steps,
        vae_crop=args.vae_crop,
        unet_steps=args.unet_steps,
        vae_batch_size=args.vae_batch_size,
        batch_size=args.batch_size,
        vae_lr=args.vae_lr,
        unet_lr=args.unet_lr,
        text_lr=args.text_lr,
        caption_dropout=args.caption_dropout,
        ema_decay=args.ema_decay,
        checkpoint_minutes=args.checkpoint_minutes,
        log_every=args.log_every,
        threads=args.threads,
        resume=args.resume,
        export_fp16=not args.export_fp32,
    )


def resolve_device(name: str) -> Any:
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device: cuda asked for but torch sees no CUDA device")
    return device


# ---------------------------------------------------------------- models


def build_vae(resolution: int) -> Any:
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(32, 64, 64),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=16,
        sample_size=resolution,
    )


def build_unet(latent_size: int) -> Any:
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=latent_size,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64, 96),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=128,
        attention_head_dim=32,
        norm_num_groups=16,
    )


def build_text_encoder(tokenizer: Any) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=512,
        num_hidden_layers=4,
        num_attention_heads=4,
        max_position_embeddings=tokenizer.model_max_length,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return CLIPTextModel(config)


def write_tokenizer(folder: Path) -> Any:
    """Tokenizer files for the data set vocabulary, with prompts cut to TEXT_LENGTH tokens."""
    from transformers import CLIPTokenizer

    from studio.pipeline.tokenizer_files import write_clip_tokenizer
    from studio.starter.dataset import vocabulary

    folder.mkdir(parents=True, exist_ok=True)
    write_clip_tokenizer(folder, vocabulary())
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["model_max_length"] = TEXT_LENGTH
    config_path.write_text(json.dumps(config, indent=2))
    tokenizer = CLIPTokenizer.from_pretrained(folder)
    ids = tokenizer(["a red circle", "a blue square"], padding="max_length", max_length=TEXT_LENGTH).input_ids
    if ids[0] == ids[1]:
        raise RuntimeError("tokenizer: different prompts gave the same ids")
    return tokenizer


# ---------------------------------------------------------------- checkpoints


def save_atomic(obj: Any, path: Path) -> None:
    import torch

    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


class LossLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.exists():
            path.write_text("stage,step,elapsed_s,loss\n")

    def add(self, stage: str, step: int, elapsed: float, loss: float) -> None:
        with self.path.open("a") as handle:
            handle.write(f"{stage},{step},{elapsed:.1f},{loss:.6f}\n")
        print(f"[{stage}] step {step:6d}  {elapsed / 60:6.2f} min  loss {loss:.5f}", flush=True)


def ema_update(ema: Any, model: Any, decay: float) -> None:
    import torch

    with torch.no_grad():
        for ema_param, param in zip(ema.parameters(), model.parameters(), strict=True):
            ema_param.lerp_(param, 1 - decay)


# ---------------------------------------------------------------- stages


def images_tensor(settings: Settings) -> tuple[Any, list[str]]:
    import torch

    from studio.starter.dataset import generate_arrays

    images, captions = generate_arrays(settings.seed, settings.dataset_size, settings.resolution)
    return torch.from_numpy(images), captions


def to_model_range(batch: Any, device: Any) -> Any:
    return batch.to(device).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def train_vae(settings: Settings, device: Any, images: Any, state: dict[str, Any], log: LossLog) -> Any:
    import torch

    vae = build_vae(settings.resolution).to(device)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=settings.vae_lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(settings.seed + 1)
    step, elapsed = 0, 0.0
    if "vae" in state:
        vae.load_state_dict(state["vae"])
        if "vae_optimizer" in state:
            optimizer.load_state_dict(state["vae_optimizer"])
            generator.set_state(state["vae_generator"])
        step, elapsed = state["vae_step"], state["vae_elapsed"]
        if "unet_ema" in state:  # the UNet learnt on these latents: the VAE stays as it is
            vae.eval()
            return vae
    budget = settings.vae_minutes * 60
    started, last_save = time.monotonic() - elapsed, time.monotonic()
    recent: list[float] = []  # losses since the last log line (fewer than log_every after a resume)

    def save_vae_checkpoint(stage: str) -> None:
        """Everything a resumed run needs to continue the VAE stage exactly (or skip it)."""
        state.update(
            stage=stage,
            vae=vae.state_dict(),
            vae_optimizer=optimizer.state_dict(),
            vae_generator=generator.get_state(),
            vae_step=step,
            vae_elapsed=time.monotonic() - started,
        )
        save_atomic(state, settings.output / "checkpoint.pt")

    vae.train()
    while step < settings.vae_steps and time.monotonic() - started < budget:
        index = torch.randint(len(images), (settings.vae_batch_size,), generator=generator)
        batch = to_model_range(images[index], device)
        if settings.vae_crop and settings.vae_crop < settings.resolution:
            # the VAE is convolutional: random crops train it as well, for a fraction of the cost
            top, left = torch.randint(settings.resolution - settings.vae_crop + 1, (2,), generator=generator)
            batch = batch[:, :, top : top + settings.vae_crop, left : left + settings.vae_crop]
        posterior = vae.encode(batch).latent_dist
        recon = vae.decode(posterior.sample()).sample
        recon_loss = torch.nn.functional.mse_loss(recon, batch)
        loss = recon_loss + 1e-6 * posterior.kl().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        optimizer.step()
        step += 1
        recent.append(recon_loss.item())
        if step % settings.log_every == 0:
            log.add("vae", step, time.monotonic() - started, sum(recent) / len(recent))
            recent.clear()
        if time.monotonic() - last_save > settings.checkpoint_minutes * 60:
            save_vae_checkpoint("vae")
            last_save = time.monotonic()
    print(f"[vae] done: {step} steps in {(time.monotonic() - started) / 60:.1f} min", flush=True)
    vae.eval()
    save_vae_checkpoint("latents")
    return vae


def encode_latents(
    settings: Settings, device: Any, vae: Any, images: Any, vae_step: int
) -> tuple[Any, float]:
    """Latent means of the whole data set and the scaling factor that gives them unit std."""
    import torch

    cache = settings.output / "latents.pt"
    if cache.exists():
        cached = torch.load(cache)
        if (cached["dataset_size"], cached.get("vae_step")) == (len(images), vae_step):
            return cached["latents"], cached["scaling_factor"]
    chunks = []
    with torch.no_grad():
        for start in range(0, len(images), 256):
            batch = to_model_range(images[start : start + 256], device)
            chunks.append(vae.encode(batch).latent_dist.mean.cpu())
    latents = torch.cat(chunks)
    scaling_factor = float(1.0 / latents.std())
    save_atomic(
        {
            "latents": latents,
            "scaling_factor": scaling_factor,
            "dataset_size": len(images),
            "vae_step": vae_step,
        },
        cache,
    )
    print(f"[latents] {tuple(latents.shape)} scaling_factor {scaling_factor:.4f}", flush=True)
    return latents, scaling_factor


def train_unet(
    settings: Settings,
    device: Any,
    tokenizer: Any,
    latents: Any,
    scaling_factor: float,
    captions: list[str],
    state: dict[str, Any],
    log: LossLog,
) -> tuple[Any, Any]:
    """Train text encoder + UNet together; return their EMA copies."""
    import copy

    import torch
    from diffusers import DDPMScheduler

    unet = build_unet(latents.shape[-1]).to(device)
    text_encoder = build_text_encoder(tokenizer).to(device)
    unet_ema, text_ema = copy.deepcopy(unet), copy.deepcopy(text_encoder)
    optimizer = torch.optim.AdamW(
        [
            {"params": unet.parameters(), "lr": settings.unet_lr},
            {"params": text_encoder.parameters(), "lr": settings.text_lr},
        ],
        weight_decay=0.01,
    )
    noise_scheduler = DDPMScheduler(**SCHEDULER_CONFIG)
    alphas = noise_scheduler.alphas_cumprod.to(device)
    generator = torch.Generator().manual_seed(settings.seed + 2)
    step, elapsed = 0, 0.0
    if "unet_ema" in state:  # resume (or extend a finished run with a larger budget)
        unet_ema.load_state_dict(state["unet_ema"])
        text_ema.load_state_dict(state["text_ema"])
        if "unet" in state:
            unet.load_state_dict(state["unet"])
            text_encoder.load_state_dict(state["text_encoder"])
            optimizer.load_state_dict(state["unet_optimizer"])
            generator.set_state(state["unet_generator"])
        else:  # a checkpoint that kept only the averaged weights
            unet.load_state_dict(state["unet_ema"])
            text_encoder.load_state_dict(state["text_ema"])
        step, elapsed = state["unet_step"], state["unet_elapsed"]

    def token_ids(texts: list[str]) -> Any:
        return tokenizer(
            texts,
            padding="max_length",
            max_length=tokenizer.model_max_length,
            truncation=True,
            return_tensors="pt",
        ).input_ids

    caption_ids = token_ids(captions)
    empty_ids = token_ids([""])[0]
    latents = latents * scaling_factor
    budget = settings.unet_minutes * 60
    warmup = 100
    started, last_save = time.monotonic() - elapsed, time.monotonic()
    recent: list[float] = []  # losses since the last log line (fewer than log_every after a resume)
    unet.train()
    text_encoder.train()
    while step < settings.unet_steps and time.monotonic() - started < budget:
        index = torch.randint(len(latents), (settings.batch_size,), generator=generator)
        clean = latents[index].to(device)
        ids = caption_ids[index].clone()
        dropped = torch.rand(settings.batch_size, generator=generator) < settings.caption_dropout
        ids[dropped] = empty_ids
        noise = torch.randn(clean.shape, generator=generator).to(device)
        timesteps = torch.randint(
            0, noise_scheduler.config.num_train_timesteps, (settings.batch_size,), generator=generator
        ).to(device)
        alpha = alphas[timesteps].view(-1, 1, 1, 1)
        noisy = alpha.sqrt() * clean + (1 - alpha).sqrt() * noise
        hidden = text_encoder(ids.to(device))[0]
        prediction = unet(noisy, timesteps, hidden).sample
        target = alpha.sqrt() * noise - (1 - alpha).sqrt() * clean  # v
        loss = torch.nn.functional.mse_loss(prediction, target)
        # linear warm-up, then cosine decay to 10% over the time budget
        progress = min(1.0, (time.monotonic() - started) / budget)
        scale = min(1.0, (step + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
        optimizer.param_groups[0]["lr"] = settings.unet_lr * scale
        optimizer.param_groups[1]["lr"] = settings.text_lr * scale
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([*unet.parameters(), *text_encoder.parameters()], 1.0)
        optimizer.step()
        step += 1
        decay = min(settings.ema_decay, (1 + step) / (10 + step))
        ema_update(unet_ema, unet, decay)
        ema_update(text_ema, text_encoder, decay)
        recent.append(loss.item())
        if step % settings.log_every == 0:
            log.add("unet", step, time.monotonic() - started, sum(recent) / len(recent))
            recent.clear()
        if time.monotonic() - last_save > settings.checkpoint_minutes * 60:
            save_unet_state(
                settings, state, unet, text_encoder, unet_ema, text_ema, optimizer, generator, step, started
            )
            last_save = time.monotonic()
    print(f"[unet] done: {step} steps in {(time.monotonic() - started) / 60:.1f} min", flush=True)
    save_unet_state(
        settings, state, unet, text_encoder, unet_ema, text_ema, optimizer, generator, step, started
    )
    return unet_ema, text_ema


def save_unet_state(
    settings: Settings,
    state: dict[str, Any],
    unet: Any,
    text_encoder: Any,
    unet_ema: Any,
    text_ema: Any,
    optimizer: Any,
    generator: Any,
    step: int,
    started: float,
) -> None:
    state.update(
        stage="unet",
        unet=unet.state_dict(),
        text_encoder=text_encoder.state_dict(),
        unet_ema=unet_ema.state_dict(),
        text_ema=text_ema.state_dict(),
        unet_optimizer=optimizer.state_dict(),
        unet_generator=generator.get_state(),
        unet_step=step,
        unet_elapsed=time.monotonic() - started,
    )
    save_atomic(state, settings.output / "checkpoint.pt")


# ---------------------------------------------------------------- export


def save_pipeline(folder: Path, vae: Any, text_encoder: Any, tokenizer: Any, unet: Any, fp16: bool) -> None:
    """Write a StableDiffusionPipeline folder, replacing `folder` only once it is complete."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline

    pipe = StableDiffusionPipeline(
        vae=copy_to_cpu(vae),
        text_encoder=copy_to_cpu(text_encoder),
        tokenizer=tokenizer,
        unet=copy_to_cpu(unet),
        scheduler=EulerDiscreteScheduler(**SCHEDULER_CONFIG),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    if fp16:
        # diffusers loads fp16 weights as fp32 unless asked otherwise, but transformers 5 keeps
        # the stored dtype ("auto"), so the (small) text encoder stays fp32 for every loader.
        pipe.unet.to(dtype=torch.float16)
        pipe.vae.to(dtype=torch.float16)
    tmp = folder.with_name(folder.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    pipe.save_pretrained(tmp, safe_serialization=True)
    if folder.exists():
        kept = [p for p in folder.iterdir() if p.is_file() and p.suffix in (".md", ".png")]
        for path in kept:  # model card and sample grid live beside the weights
            shutil.copy2(path, tmp / path.name)
        shutil.rmtree(folder)
    os.replace(tmp, folder)


def copy_to_cpu(module: Any) -> Any:
    import copy

    return copy.deepcopy(module).to("cpu").eval()


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(list(argv or []))
    import torch

    if settings.threads:
        torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    device = resolve_device(settings.device)
    settings.output.mkdir(parents=True, exist_ok=True)
    checkpoint = settings.output / "checkpoint.pt"
    if settings.resume and checkpoint.exists():
        state: dict[str, Any] = torch.load(checkpoint, weights_only=False)
        print(f"resuming from {checkpoint} (stage {state.get('stage')})", flush=True)
    else:
        if checkpoint.exists() and not settings.resume:
            raise SystemExit(
                f"--output: {settings.output} already holds a checkpoint; pass --resume or pick another folder"
            )
        state = {"stage": "vae", "settings": {k: str(v) for k, v in vars(settings).items()}}
    print(f"device {device}, threads {torch.get_num_threads()}, resolution {settings.resolution}", flush=True)
    log = LossLog(settings.output / "loss.csv")
    tokenizer = write_tokenizer(settings.output / "tokenizer")
    begin = time.monotonic()
    images, captions = images_tensor(settings)
    print(f"[data] {len(images)} images in {time.monotonic() - begin:.1f} s", flush=True)
    vae = train_vae(settings, device, images, state, log)
    latents, scaling_factor = encode_latents(settings, device, vae, images, state["vae_step"])
    vae.register_to_config(scaling_factor=scaling_factor)
    unet, text_encoder = train_unet(
        settings, device, tokenizer, latents, scaling_factor, captions, state, log
    )
    save_pipeline(settings.output / "pipeline", vae, text_encoder, tokenizer, unet, fp16=False)
    print(f"pipeline written to {settings.output / 'pipeline'}", flush=True)
    if settings.export is not None:
        save_pipeline(settings.export, vae, text_encoder, tokenizer, unet, fp16=settings.export_fp16)
        print(f"exported to {settings.export}", flush=True)
    return 0
