"""AUTOMATIC1111-compatible routes under /sdapi/v1, so existing A1111 clients work unchanged.

Every generation is a job: `txt2img` / `img2img` queue a `GenerationRequest` and await the job
without blocking the server, so `progress`, `options` and the rest answer while it runs.
Responses keep A1111's shapes: `images` as base64 PNG, `parameters` as sent, `info` as a JSON
string. Hires fix fields map onto the request; the rest of A1111's routes (upscalers, Extras,
module lists) are in `studio.http.a1111_extras`.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from studio import options as opt
from studio.config import masked
from studio.http.a1111_info import read_png_info
from studio.http.a1111_payloads import Img2ImgBody, PngInfoBody, Txt2ImgBody
from studio.http.a1111_shapes import (
    EmbeddingsResponse,
    MemoryResponse,
    SamplerItem,
    ScriptInfo,
    ScriptsList,
    embedding_items,
    memory_report,
    sampler_items,
    script_infos,
)
from studio.http.checks import check_cost, check_request
from studio.http.controlnet import split_controlnet
from studio.http.errors import COMMON_RESPONSES, GENERATION_FAILED, StrictJsonRoute
from studio.http.images import decode_image, encode_png_base64
from studio.infotext import parse_infotext
from studio.jobs import SELECT_MODEL, Job, JobState
from studio.prompts.styles import infotext_styles
from studio.request import GenerationRequest, Problems, RequestError

if TYPE_CHECKING:
    from studio.engine_view import StudioEngine
    from studio.http.a1111_progress import A1111Progress
    from studio.http.services import HttpServices


FORGE_DISTILLED_CFG = 3.5  # what Forge's API sends when the client did not choose


def _normalized(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _match_name(value: str, choices: Iterable[str]) -> str:
    """The choice equal to `value` ignoring case, spaces and underscores (A1111 clients send
    "automatic" for "Automatic", "sgm_uniform" for "SGM Uniform"); `value` itself if none."""
    wanted = _normalized(value)
    for choice in choices:
        if _normalized(choice) == wanted:
            return choice
    return value


def _style_names(styles: list[str] | None) -> tuple[str, ...]:
    return tuple(styles or ())


def _label_to_name(label: str) -> str:
    return label.lower().replace(" ", "_")


class A1111Api:
    def __init__(self, services: HttpServices) -> None:
        self.services = services

    @property
    def engine(self) -> StudioEngine:
        return self.services.engine

    # ---- request building ----------------------------------------------------------------

    def _resolve(self, kind: str, name: str | None, field_name: str) -> str | None:
        return opt.resolve_model_option(
            self.engine.registry, kind, name, field_name, allow_pickle=self.engine.config.allow_pickle
        )

    def _scripts(self, body: Txt2ImgBody) -> tuple[dict[str, dict[str, Any]], tuple[dict[str, Any], ...]]:
        """The request's scripts, and its ControlNet units (`alwayson_scripts.controlnet`)."""
        others, controlnet_units = split_controlnet(body.alwayson_scripts or {})
        return self.services.scripts.from_a1111(body.script_name, body.script_args, others), controlnet_units

    def _family_fields(self, body: Txt2ImgBody, model: str | None) -> dict[str, Any]:
        """The model-family fields of the payload (A1111's refiner, Forge's distilled CFG,
        Atelier's own). Forge clients send `distilled_cfg_scale` 3.5 with every request: that
        default is dropped for models without Flux guidance; any other value goes on (and is
        refused by name if the model cannot use it)."""
        values: dict[str, Any] = {
            name: getattr(body, name)
            for name in (
                "original_width",
                "original_height",
                "crop_left",
                "crop_top",
                "skip_layer_guidance_scale",
            )
        }
        if body.refiner_checkpoint not in (None, "", "None"):
            values["refiner_checkpoint"] = self._resolve(
                "checkpoint", body.refiner_checkpoint, "refiner_checkpoint"
            )
            values["refiner_switch_at"] = 0.8 if body.refiner_switch_at is None else body.refiner_switch_at
        if body.flow_shift is not None:
            values["flow_shift"] = body.flow_shift
        if body.distilled_cfg_scale is not None:
            fields = self.engine.model_info(model).get("fields", [])
            if "distilled_cfg_scale" in fields or body.distilled_cfg_scale != FORGE_DISTILLED_CFG:
                values["distilled_cfg_scale"] = body.distilled_cfg_scale
        return values

    def build_request(self, body: Txt2ImgBody) -> GenerationRequest:
        """The A1111 payload as a validated GenerationRequest; RequestError naming the bad field
        (RequestErrors naming every one when several are bad)."""
        problems = Problems()
        options = self.services.options.all()
        override = body.override_settings or {}
        model_key = "override_settings.sd_model_checkpoint" if opt.MODEL in override else opt.MODEL
        vae_key = "override_settings.sd_vae" if opt.VAE in override else opt.VAE
        model = vae = None
        with problems.check():
            model = self._resolve("checkpoint", override.get(opt.MODEL, options.get(opt.MODEL)), model_key)
        with problems.check():
            vae = self._resolve("vae", override.get(opt.VAE, options.get(opt.VAE)), vae_key)
        # a bad model or VAE is reported under the A1111 option's name, not again as `model`
        skip = {name for key, name in ((model_key, "model"), (vae_key, "vae")) if key in problems.fields()}
        clip_skip = override.get(opt.CLIP_SKIP, options.get(opt.CLIP_SKIP, 1))
        sampler = body.sampler_name or body.sampler_index or "Euler a"
        # aliases ("k_euler_a"), other spellings, and "DPM++ 2M Karras" split as A1111 1.9+ does
        sampler, scheduler = self.engine.normalize_sampler(sampler, body.scheduler or "Automatic")
        sampler = _match_name(sampler, self.engine.sampler_names())
        scheduler = _match_name(scheduler, self.engine.schedule_types())
        scripts: dict[str, dict[str, Any]] = {}
        controlnet_units: tuple[dict[str, Any], ...] = ()
        with problems.check():
            scripts, controlnet_units = self._scripts(body)
        family: dict[str, Any] = {}
        with problems.check():
            family = self._family_fields(body, model)
        values: dict[str, Any] = {
            "prompt": body.prompt,
            "negative_prompt": body.negative_prompt,
            "styles": _style_names(body.styles),
            "seed": body.seed,
            "subseed": body.subseed,
            "subseed_strength": body.subseed_strength,
            "sampler_name": sampler,
            "scheduler": scheduler,
            "steps": body.steps,
            "cfg_scale": body.cfg_scale,
            "width": body.width,
            "height": body.height,
            "batch_size": body.batch_size,
            "n_iter": body.n_iter,
            "clip_skip": int(clip_skip) if isinstance(clip_skip, int | float) else clip_skip,
            "model": model,
            "vae": vae,
            "scripts": scripts,
            "controlnet_units": controlnet_units,
            "save_images": bool(body.save_images),
            "samples_format": str(
                override.get("samples_format", options.get("samples_format", "png"))
            ).lower(),
            "restore_faces": bool(body.restore_faces),
            "face_restoration_model": override.get(
                opt.FACE_RESTORATION_MODEL, options.get(opt.FACE_RESTORATION_MODEL, "CodeFormer")
            ),
            "code_former_weight": override.get(
                opt.CODE_FORMER_WEIGHT, options.get(opt.CODE_FORMER_WEIGHT, 0.5)
            ),
            **family,
        }
        if isinstance(body, Img2ImgBody):
            values.update(self._img2img_values(body, problems))
        elif body.enable_hr:
            values.update(self._hires_values(body))
        request = GenerationRequest(**values)
        with problems.check():
            # the engine's checks name the rest; a field already reported is not checked twice
            request = check_request(self.engine, request, skip=problems.fields() | skip)
        problems.raise_any()
        return request

    def _img2img_values(self, body: Img2ImgBody, problems: Problems) -> dict[str, Any]:
        images: list[bytes] = []
        if not body.init_images:
            problems.add(RequestError("init_images", "img2img needs at least one init image"))
        for index, image in enumerate(body.init_images or ()):
            with problems.check():
                images.append(decode_image(image, f"init_images[{index}]"))
        mask = None
        if body.mask:
            with problems.check():
                mask = decode_image(body.mask, "mask")
        return {
            # with a bad image, checking the rest goes on with a stand-in (the bad one is reported)
            "init_images": tuple(images) or (b"",),
            "mask": mask,
            "denoising_strength": 0.75 if body.denoising_strength is None else body.denoising_strength,
            "mask_blur": 4 if body.mask_blur is None else body.mask_blur,
            "inpainting_fill": body.inpainting_fill,
            "inpaint_full_res": bool(body.inpaint_full_res),
            "inpaint_full_res_padding": body.inpaint_full_res_padding,
            "inpainting_mask_invert": body.inpainting_mask_invert,
        }

    def _hires_values(self, body: Txt2ImgBody) -> dict[str, Any]:
        """A1111's hires fix fields (txt2img only); the request's checks name a bad one."""
        return {
            "enable_hr": True,
            "hr_scale": body.hr_scale,
            "hr_upscaler": body.hr_upscaler or "Latent",
            "hr_second_pass_steps": body.hr_second_pass_steps,
            "hr_resize_x": body.hr_resize_x,
            "hr_resize_y": body.hr_resize_y,
            "hr_checkpoint_name": body.hr_checkpoint_name,
            "hr_sampler_name": body.hr_sampler_name,
            "hr_scheduler": body.hr_scheduler,
            "hr_prompt": body.hr_prompt,
            "hr_negative_prompt": body.hr_negative_prompt,
            "denoising_strength": 0.7 if body.denoising_strength is None else body.denoising_strength,
        }

    # ---- responses -----------------------------------------------------------------------

    def info(self, request: GenerationRequest, job: Job) -> dict[str, Any]:
        result = job.result or {}
        images = result.get("images", [])
        seeds = [image.get("seed") for image in images] or [request.seed]
        subseeds = [image.get("subseed") for image in images] or [request.subseed]
        infotexts = [image.get("infotext") or "" for image in images]
        # each image's own prompts (styles applied, wildcards chosen), as its infotext has them
        parsed = [parse_infotext(text) for text in infotexts if text]
        all_prompts = [p.get("Prompt", "") for p in parsed] or [request.prompt]
        all_negative = [p.get("Negative prompt", "") for p in parsed] or [request.negative_prompt]
        model_name = model_hash = None
        wanted = request.model or self.engine.current_model
        entry = None
        if wanted:
            try:
                entry = self.engine.registry.find("checkpoint", wanted)
            except RequestError:
                entry = None
        if entry is not None:
            model_name, model_hash = entry.short_name, entry.hash10
        return {
            "prompt": all_prompts[0],
            "all_prompts": all_prompts,
            "negative_prompt": all_negative[0],
            "all_negative_prompts": all_negative,
            "seed": seeds[0],
            "all_seeds": seeds,
            "subseed": subseeds[0],
            "all_subseeds": subseeds,
            "subseed_strength": request.subseed_strength,
            "width": request.width,
            "height": request.height,
            "sampler_name": request.sampler_name,
            "scheduler": request.scheduler,
            "cfg_scale": request.cfg_scale,
            "steps": request.steps,
            "batch_size": request.batch_size,
            "restore_faces": request.restore_faces,
            "face_restoration_model": request.face_restoration_model if request.restore_faces else None,
            "sd_model_name": model_name,
            "sd_model_hash": model_hash,
            "sd_vae_name": request.vae,
            "sd_vae_hash": None,
            "seed_resize_from_w": -1,
            "seed_resize_from_h": -1,
            "denoising_strength": request.denoising_strength
            if request.init_images or request.enable_hr
            else None,
            "extra_generation_params": {},
            "index_of_first_image": 0,
            "infotexts": infotexts,
            "styles": list(request.styles),
            "job_timestamp": datetime.datetime.fromtimestamp(job.created_at).strftime("%Y%m%d%H%M%S"),
            "clip_skip": request.clip_skip,
            "is_using_inpainting_conditioning": False,
            "version": "atelier",
            "job_id": job.id,
            "job_state": str(job.state),
            "interrupted": bool(result.get("interrupted")),
        }

    async def generate(self, body: Txt2ImgBody) -> dict[str, Any]:
        def build_and_submit() -> tuple[GenerationRequest, Job, dict[str, Any]]:
            request = self.build_request(body)
            cost = check_cost(self.engine, request)  # CostRefused -> 422 with the estimate
            return request, self.services.jobs.submit_request(request), cost.to_json()

        request, job, cost = await run_in_threadpool(build_and_submit)
        job = await self.services.jobs.wait_async(job.id)
        if job.state == JobState.FAILED:
            failed_field = (job.result or {}).get("error_field")
            if failed_field:
                # the request named something that turned out unusable at run time (a model
                # whose file does not load): the client's to fix, so 4xx naming it and why
                message = (job.error or "").removeprefix(f"{failed_field}: ")
                raise RequestError(str(failed_field), message)
            raise HTTPException(
                status_code=500, detail={"error": "GenerationError", "job_id": job.id, "errors": job.error}
            )
        images = []
        if body.send_images:
            for stored in self.services.queue.images(job.id):
                png = stored.read_png()
                if png is not None:
                    images.append(encode_png_base64(png))
            if isinstance(body, Img2ImgBody) and body.include_init_images:
                images.extend(encode_png_base64(image) for image in request.init_images)
        parameters = body.model_dump()
        if isinstance(body, Img2ImgBody) and not body.include_init_images:
            parameters["init_images"] = None
            parameters["mask"] = None
        info = self.info(request, job)
        info["cost"] = (job.result or {}).get("cost", cost)
        # the cost check's, and the run's own (e.g. a batch stopped before its first step)
        info["warnings"] = (job.result or {}).get("warnings", info["cost"]["warnings"])
        # device, dtypes, fallback and the memory plan it ran with (never in the infotext)
        info["runtime"] = (job.result or {}).get("runtime")
        return {
            "images": images,
            "parameters": parameters,
            "info": json.dumps(info),
            "warnings": info["warnings"],
        }

    def current_options(self) -> dict[str, Any]:
        """The options in effect: the studio settings (saved from the Settings tab or here) and
        the stored keys; the model as its title (the loaded one when no default is set)."""
        values = self.services.options.all()
        model = values.get(opt.MODEL)
        entry = None
        for wanted in (model, self.engine.current_model):
            if entry is None and wanted:
                try:
                    entry = self.engine.registry.find("checkpoint", wanted)
                except RequestError:
                    entry = None
        values[opt.MODEL] = entry.title if entry else model
        values["sd_checkpoint_hash"] = entry.sha256 if entry else None
        return values

    def set_options(self, changes: dict[str, Any]) -> None:
        """Check every change first (the model and VAE against the registry: a missing, damaged
        or refused file is a 422 naming the option; nothing is saved then), then save: the studio
        settings into config.json, in effect at once (`studio.options`), the rest stored."""
        models, allow_pickle = self.engine.registry, self.services.options.config.allow_pickle
        stored = self.services.options.update(changes, models=models, allow_pickle=allow_pickle)
        if changes.get(opt.MODEL):
            # load it on the worker, in queue order, as A1111 loads a model when it is set
            self.services.jobs.submit(SELECT_MODEL, {"name": stored[opt.MODEL]})


def build_router(services: HttpServices, progress_answers: A1111Progress) -> APIRouter:
    """The /sdapi/v1 routes; `progress_answers` makes the /progress answers (the app's fast path for
    the polls serves the same object's bytes)."""
    api = A1111Api(services)
    router = APIRouter(
        prefix="/sdapi/v1",
        tags=["A1111-compatible"],
        route_class=StrictJsonRoute,
        responses=COMMON_RESPONSES,
    )
    engine = services.engine

    @router.post("/txt2img", responses={500: GENERATION_FAILED})
    async def txt2img(body: Txt2ImgBody) -> dict[str, Any]:
        return await api.generate(body)

    @router.post("/img2img", responses={500: GENERATION_FAILED})
    async def img2img(body: Img2ImgBody) -> dict[str, Any]:
        return await api.generate(body)

    @router.get("/progress")
    async def progress(skip_current_image: Annotated[bool, Query()] = False) -> Response:
        # polled by every client: most polls are answered by the app's ProgressFastPath with the
        # same bytes; this route answers the queries it leaves (and documents the shape)
        return Response(progress_answers.body(skip_current_image), media_type="application/json")

    @router.post("/interrupt")
    async def interrupt() -> dict[str, Any]:
        services.jobs.interrupt()
        return {}

    @router.post("/skip")
    async def skip() -> dict[str, Any]:
        services.jobs.skip()
        return {}

    @router.get("/options")
    def get_options() -> dict[str, Any]:
        return api.current_options()

    @router.post("/options")
    def set_options(changes: Annotated[dict[str, Any], Body()]) -> None:
        api.set_options(changes)

    @router.get("/cmd-flags")
    def cmd_flags() -> dict[str, Any]:
        config = services.config
        flags = config.to_json()
        flags["api_auth"] = "********" if config.api_auth else None
        flags["ui_auth"] = "********" if config.ui_auth else None
        flags["hub_api_key"] = masked(config.hub_api_key)
        flags["gradio_auth"] = flags["ui_auth"]
        flags.update(
            api=True,
            nowebui=config.api_only,
            ckpt_dir=str(config.models_path / "Stable-diffusion"),
            vae_dir=str(config.models_path / "VAE"),
            lora_dir=str(config.models_path / "Lora"),
            embeddings_dir=str(config.models_path / "embeddings"),
            cors_allow_origins=",".join(config.cors_origins) or None,
            disable_safe_unpickle=config.allow_pickle,
        )
        return flags

    @router.get("/sd-models")
    def sd_models() -> list[dict[str, Any]]:
        return [
            {
                "title": entry.title,
                "model_name": entry.a1111_model_name,
                "hash": entry.hash10,
                "sha256": entry.sha256,
                "filename": str(entry.path),
                "config": None,
                "family": entry.family,
                "architecture": entry.architecture,
            }
            for entry in engine.registry.checkpoints()
        ]

    @router.get("/sd-vae")
    def sd_vae() -> list[dict[str, Any]]:
        return [{"model_name": entry.name, "filename": str(entry.path)} for entry in engine.registry.vaes()]

    @router.get("/samplers", response_model=list[SamplerItem])
    def samplers() -> list[dict[str, Any]]:
        return sampler_items(engine)

    @router.get("/schedulers")
    def schedulers() -> list[dict[str, Any]]:
        return [
            {
                "name": _label_to_name(label),
                "label": label,
                "aliases": None,
                "default_rho": -1,
                "need_inner_model": False,
            }
            for label in engine.schedule_types()
        ]

    @router.get("/loras")
    def loras() -> list[dict[str, Any]]:
        return engine.lora_listing()

    @router.get("/embeddings", response_model=EmbeddingsResponse)
    def embeddings() -> dict[str, Any]:
        return embedding_items(engine.embedding_listing())

    @router.get("/prompt-styles")
    def prompt_styles() -> list[dict[str, str]]:
        return [style.to_json() for style in engine.prompt_library.styles.styles()]

    @router.post("/refresh-checkpoints")
    def refresh_checkpoints() -> None:
        engine.registry.refresh()

    @router.post("/refresh-vae")
    def refresh_vae() -> None:
        engine.registry.refresh()

    @router.post("/refresh-loras")
    def refresh_loras() -> None:
        engine.registry.refresh()

    @router.post("/refresh-embeddings")
    def refresh_embeddings() -> None:
        engine.registry.refresh()

    @router.post("/png-info")
    def png_info(body: PngInfoBody) -> dict[str, Any]:
        if not body.image:
            raise RequestError("image", "an image is required")
        data = decode_image(body.image, "image")
        info = read_png_info(data)
        if info["parameters"]:
            # as A1111's PNG Info: the styles found in the prompt come back as "Styles array"
            mode = services.options.get(opt.INFOTEXT_STYLES)
            info["parameters"] = infotext_styles(
                info["parameters"], engine.prompt_library.styles.styles(), mode
            )
        return info

    @router.get("/scripts", response_model=ScriptsList)
    def scripts() -> dict[str, list[str]]:
        infos = script_infos(services.scripts)  # each tab lists the scripts it shows
        return {
            tab: [info["name"] for info in infos if info["is_img2img"] == (tab == "img2img")]
            for tab in ("txt2img", "img2img")
        }

    @router.get("/script-info", response_model=list[ScriptInfo])
    def script_info() -> list[dict[str, Any]]:
        return script_infos(services.scripts)

    @router.get("/memory", response_model=MemoryResponse)
    def memory() -> dict[str, Any]:
        # exactly A1111's fields (strict clients refuse extra keys); the device in use and why
        # it fell back, when it did, are in /studio/v1/status
        return memory_report()

    return router


__all__ = ["A1111Api", "Img2ImgBody", "Txt2ImgBody", "build_router"]
