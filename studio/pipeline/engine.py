"""The generation engine: request in, Result out (txt2img, img2img, inpaint).

One `Engine` per studio, built from the config by the composition root and driven by ONE
worker thread at a time. `generate` validates the request, picks and loads the model (LRU
cache), makes per-image noise from per-image seeds, applies the request's styles and makes each
image's choices and wildcards from its seed (`studio.prompts.expansion`; images whose prompts
differ run as separate passes of their batch), runs the diffusers pipeline with a step
callback that reports progress and honours interrupt/skip, then writes PNGs with A1111
infotext under outputs/ and records each image in the history. Samplers, device backends and
memory strategies come from the studio's `Registries` (the built-ins and the extensions',
`studio.scripts.registries`).
"""

from __future__ import annotations

import dataclasses
import io
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.config import StudioConfig
from studio.history import HistoryStore
from studio.hooks import GenerationHooks, NoHooks
from studio.infotext import encode_png, format_infotext, generation_parameters
from studio.memory.estimate import CostPolicy, CostVerdict, JobShape
from studio.memory.policy import MemoryPlan
from studio.model_checks import ModelProblems, check_model_file, load_errors_named
from studio.pipeline.backends import Acceleration
from studio.pipeline.batch_runner import (
    BatchRunner,
    peak_memory,
    prepare_inputs,
    same_prompt_runs,
    with_prompts,
)
from studio.pipeline.controlnet.service import ControlNets
from studio.pipeline.families.engine_steps import (
    check_family,
    check_family_prompts,
)
from studio.pipeline.interrupt import needs_fine_checks, stop_inside_steps
from studio.pipeline.model_registry import (
    SD_NATIVE_SIZE,
    ModelEntry,
    ModelRegistry,
    best_match,
    native_size,
)
from studio.pipeline.networks.activation import AppliedNetworks, NetworkPlan, Networks
from studio.pipeline.networks.refiner_loras import RefinerLoras
from studio.pipeline.prompt_cache import PromptEmbeddingCache
from studio.pipeline.runtime_policy import job_memory, plan_memory, runtime_report
from studio.pipeline.stopped import stopped_batch
from studio.pipeline.upscalers.service import Upscalers
from studio.pipeline.vae_guard import vae_fp32_retries
from studio.progress import GenerationControl
from studio.prompts.expansion import PromptLibrary
from studio.prompts.parse import TokenCount, check_prompt, count_tokens
from studio.request import MAX_SEED, GenerationRequest, ImageRecord, Problems, RequestError, Result, validate

if TYPE_CHECKING:
    from studio.pipeline.samplers import SamplerRegistry
    from studio.scripts.registries import Registries

LAST_MODEL_KEY = "last_selected_model"
STARTER_MODEL = "Diffusers/atelier-starter"
TINY_FALLBACK = "Diffusers/atelier-tiny"
NO_VAE = (None, "", "Automatic", "None")


class NoModelError(RequestError):
    """No checkpoint exists at all (field `model`)."""


def ensure_default_model(config: StudioConfig, registry: ModelRegistry | None = None) -> Path | None:
    """When no checkpoint at all is found, build the tiny offline model into
    `models_path/Diffusers/atelier-tiny` so a fresh install can generate. Returns its path or None."""
    registry = registry or ModelRegistry(config)
    if registry.checkpoints():
        return None
    from studio.pipeline.tiny_model import build_tiny_pipeline

    folder = build_tiny_pipeline(config.models_path / TINY_FALLBACK)
    registry.refresh()
    return folder


class Engine:
    def __init__(
        self,
        config: StudioConfig,
        hooks: GenerationHooks | None = None,
        registries: Registries | None = None,
    ) -> None:
        """`registries`: the studio's samplers, devices and memory strategies (the script
        system's, with its extensions'); without them, the built-ins only."""
        self.config = config
        self.hooks: GenerationHooks = hooks if hooks is not None else NoHooks()
        if registries is None:
            from studio.scripts.registries import builtin_registries

            registries = builtin_registries()
        self._registries: Registries = registries
        self.registry = ModelRegistry(config)
        self.history = HistoryStore(config.database_path)
        self._cache: Any = None  # ModelCache, made on first load (imports torch)
        self._device: Any = None
        self._last_device: Any = None  # the DeviceChoice the last generation's model ran with
        self._current: ModelEntry | None = None
        self._model_problems = ModelProblems()  # model file checks, until the files change
        self._prompts = PromptEmbeddingCache()
        self._tokenizers: dict[Path, Any] = {}  # checkpoint path -> its tokenizer (token counts)
        self.prompt_library = PromptLibrary.for_config(config)  # styles, wildcards
        self._networks = Networks(self.registry, lambda: self.config.allow_pickle)  # LoRAs, embeddings
        self.controlnets = ControlNets(config.models_path, config.allow_pickle)
        self.upscalers = Upscalers(
            lambda: self._registries.upscalers, config.models_path, lambda: self.config.allow_pickle
        )
        self._costs: Any = None  # CostEstimator, made on the first cost check
        self._acceleration = Acceleration(lambda: self.config)  # backend and quantization

    # -- choices ------------------------------------------------------------------------------
    @property
    def samplers(self) -> SamplerRegistry:
        return self._registries.samplers

    def sampler_names(self) -> list[str]:
        return self.samplers.sampler_names()

    def schedule_types(self) -> list[str]:
        return self.samplers.schedule_type_names()

    def sampler_aliases(self, sampler_name: str) -> list[str]:
        return self.samplers.aliases(sampler_name)

    def normalize_sampler(self, sampler_name: str, schedule: str = "Automatic") -> tuple[str, str]:
        return self.samplers.normalize(sampler_name, schedule)

    def device_names(self) -> list[str]:
        """The device backends `config.device` may name (besides `auto`)."""
        return self._registries.devices.names()

    def memory_strategy_names(self) -> list[str]:
        """The strategies `config.memory` may name."""
        return self._registries.memory_strategies.names()

    @property
    def device(self) -> Any:
        """The DeviceChoice (resolved from `config.device` on first use)."""
        if self._device is None:  # the CPU, loudly, when the asked-for device cannot start
            from studio.devices.startup import start_device

            self._device = start_device(
                self.config.device, self.config.dtype, self._registries.devices.backends()
            )
        return self._device

    def device_report(self) -> dict[str, Any]:
        """The device in use, its dtype policy (the last loaded model's dtypes once a model
        ran) and any fallback (`studio.devices.startup`)."""
        from studio.devices.startup import device_report

        return device_report(self._last_device or self.device)

    @property
    def cache(self) -> Any:
        if self._cache is None:
            from studio.pipeline.loader import ModelCache

            self._cache = ModelCache(self.config.model_cache_size, companion_roots=self.registry.roots())
        return self._cache

    # -- cost ----------------------------------------------------------------------------------
    def check_cost(self, request: GenerationRequest) -> CostVerdict:
        """The `cost_check` policy's verdict on `request`: its time and memory estimate and
        warnings; raises CostRefused (a RequestError) when the policy refuses it."""
        request, entry, _vae = self.check(request)
        return self._cost_verdict(request, entry)

    def _cost_verdict(self, request: GenerationRequest, entry: ModelEntry) -> CostVerdict:
        if self._costs is None:
            from studio.pipeline.cost_profile import CostEstimator

            self._costs = CostEstimator(self.registry)
        policy = CostPolicy(self.config.cost_check, self.config.max_job_seconds)
        loaded = entry in self.cache
        return self._costs.verdict(
            JobShape.of(request), entry, self.device, policy, self.config.memory, loaded=loaded
        )

    # -- model selection ----------------------------------------------------------------------
    @property
    def current_model(self) -> str | None:
        entry = self._current or self._default_entry(required=False)
        return None if entry is None else entry.title

    def _default_entry(self, required: bool = True) -> ModelEntry | None:
        checkpoints = self.registry.checkpoints()
        for wanted in (self.config.default_model, self.registry.get_state(LAST_MODEL_KEY)):
            entry = best_match(checkpoints, wanted) if wanted else None
            if entry is not None:
                return entry
        builtin = (self.config.builtin_models_path / STARTER_MODEL).resolve()
        for entry in checkpoints:
            if entry.path == builtin:
                return entry
        if checkpoints:
            # the first one that can be used: a broken or refused file is not made the default
            return next((entry for entry in checkpoints if self._usable(entry)), checkpoints[0])
        if required:
            raise NoModelError(
                "model",
                f"no model found in {self.config.models_path} (Stable-diffusion/*.safetensors or "
                "Diffusers/<folder>); add one or run ensure_default_model",
            )
        return None

    def _usable(self, entry: ModelEntry) -> bool:
        allow_pickle = self.config.allow_pickle
        return self._model_problems.problem(entry.path, kind="checkpoint", allow_pickle=allow_pickle) is None

    def _check_file(self, entry: ModelEntry, kind: str, field_name: str) -> None:
        """`check_model_file` with this engine's remembered checks."""
        allow_pickle, problems = self.config.allow_pickle, self._model_problems
        check_model_file(
            entry, kind=kind, allow_pickle=allow_pickle, field_name=field_name, problems=problems
        )

    def native_size(self) -> int:
        """The trained resolution of the current (or default) model; forms start at this size."""
        entry = self._current or self._default_entry(required=False)
        return SD_NATIVE_SIZE if entry is None else native_size(entry)

    def lora_listing(self) -> list[dict[str, Any]]:
        """The installed LoRAs as A1111's `/sdapi/v1/loras` lists them (name, alias, path, metadata)."""
        return self._networks.catalog.lora_listing()

    def embedding_listing(self) -> dict[str, dict[str, Any]]:
        """The embeddings as A1111's `/sdapi/v1/embeddings`: `loaded` (usable with the current
        model) and `skipped`, each {name: {step, sd_checkpoint, sd_checkpoint_name, shape, vectors}}."""
        from studio.pipeline.networks.catalog import text_encoder_width

        entry = self._current or self._default_entry(required=False)
        width = None if entry is None else text_encoder_width(entry)
        return self._networks.catalog.embedding_listing(width, self.config.allow_pickle)

    def select_model(self, name: str) -> str:
        """Load the checkpoint (title, name or hash), make it current and remember it. Returns its title."""
        entry = self.registry.find("checkpoint", name)
        self._load(entry)
        self._current = entry
        self.registry.set_state(LAST_MODEL_KEY, entry.title)
        return entry.title

    def adopt_model(self, name: str) -> str:
        """Make the checkpoint current without loading it: the engine's worker process loaded it
        (studio.worker), this engine answers for it. Returns its title."""
        entry = self.registry.find("checkpoint", name)
        self._current = entry
        return entry.title

    def count_tokens(
        self, prompt: str, steps: int = 20, positive: bool = True, model: str | None = None
    ) -> TokenCount:
        """A1111's token counter for `prompt` with the tokenizer of `model` (title, name or hash;
        default: the current model). Reads the tokenizer files only, never the weights."""
        from studio.pipeline.conditioning import load_tokenizer, special_tokens, tokenize_function

        entry = self.registry.find("checkpoint", model) if model else (self._current or self._default_entry())
        assert entry is not None
        if entry.path not in self._tokenizers:
            from studio.pipeline.loader import ModelLoadError

            try:
                self._tokenizers[entry.path] = load_tokenizer(entry)
            except (ModelLoadError, OSError) as error:
                raise RequestError("model", f"cannot read the tokenizer of {entry.title}: {error}") from error
        tokenizer = self._tokenizers[entry.path]
        return count_tokens(prompt, steps, tokenize_function(tokenizer), special_tokens(tokenizer), positive)

    def _load(self, entry: ModelEntry, field_name: str = "model") -> Any:
        from studio.pipeline.runtime_policy import model_device

        def get() -> Any:
            return self.cache.get(
                entry,
                model_device(self.device, entry),
                dict(self.config.memory),
                self.config.allow_pickle,
                self._registries.memory_strategies,
            )

        with load_errors_named(entry, field_name):
            return self._acceleration.load(self.cache, entry, get)

    # -- generation ---------------------------------------------------------------------------
    def check(self, request: GenerationRequest) -> tuple[GenerationRequest, ModelEntry, ModelEntry | None]:
        """Validate and resolve names; returns the normalized request, its model and VAE entries.

        Every bad field is reported at once (RequestErrors); a model or VAE that cannot be used
        (pickle without allow_pickle, missing, damaged header) is refused here, before queueing.
        The model's family decides its samplers, schedule types, sizes and fields."""
        if isinstance(request.sampler_name, str) and isinstance(request.scheduler, str):
            sampler, schedule = self.samplers.normalize(request.sampler_name, request.scheduler)
            if (sampler, schedule) != (request.sampler_name, request.scheduler):
                request = dataclasses.replace(request, sampler_name=sampler, scheduler=schedule)
        problems = Problems()
        with problems.check():
            validate(request, samplers=self.sampler_names(), schedulers=self.schedule_types())
        bad = problems.fields()
        if not bad & {"prompt", "negative_prompt", "styles"}:
            with problems.check():
                self.prompt_library.check(request)
        if "controlnet_units" not in bad:
            with problems.check():
                self.controlnets.check(request)
        entry = vae = None
        with problems.check():
            if "model" not in bad:
                entry = self.registry.find("checkpoint", request.model) if request.model else self._current
                entry = entry or self._default_entry()
                self._check_file(entry, "checkpoint", "model")
        with problems.check():
            if "vae" not in bad and request.vae not in NO_VAE:
                vae = self.registry.find("vae", request.vae, "vae")
                self._check_file(vae, "vae", "vae")
        with problems.check():
            self.upscalers.faces.check_request(request)
        if entry is not None and request.enable_hr and not _hires_fields(problems.fields()):
            with problems.check():
                request = self._check_hires(request, entry)
        if entry is not None and not problems:
            # the family's checks assume the fields it reads are valid: they run on a clean request
            with problems.check():
                request = check_family(request, entry, self.registry, self.samplers)
        if not problems.fields() & {"prompt", "negative_prompt", "styles", "steps", "cfg_scale"}:
            # LoRA tags and embeddings (the styles' too): installed, readable; those a wildcard
            # brings are checked when its image's prompt is made
            with problems.check():
                prompt, negative_prompt = self.prompt_library.styled(request)
                check_prompt(prompt, negative_prompt, request.steps, request.cfg_scale)  # A1111 syntax
                plan = self._networks.resolve(
                    dataclasses.replace(request, prompt=prompt, negative_prompt=negative_prompt, styles=())
                )
                if entry is not None:
                    check_family_prompts(entry, plan, request)
                    self._acceleration.check(request, entry, bool(plan.loras))
        problems.raise_any()
        assert entry is not None
        return request, entry, vae

    def _check_hires(self, request: GenerationRequest, entry: ModelEntry) -> GenerationRequest:
        from studio.pipeline.hires import resolve_hires
        from studio.pipeline.hires_checkpoint import hires_checkpoint_check

        check = hires_checkpoint_check(self.registry, entry, self.config.allow_pickle)
        return resolve_hires(request, self.samplers, self.upscalers.names(), check)

    def unload_models(self) -> None:
        """Free the loaded checkpoints and upscalers (A1111's unload-checkpoint)."""
        if self._cache is not None:
            self._cache.clear()
        self.upscalers.unload()
        self._prompts = PromptEmbeddingCache()
        import gc

        gc.collect()

    def reload_model(self) -> str | None:
        """Load the current (or default) checkpoint again (A1111's reload-checkpoint)."""
        entry = self._current or self._default_entry(required=False)
        if entry is None:
            return None
        self._load(entry)
        return entry.title

    def generate(self, request: GenerationRequest, control: GenerationControl | None = None) -> Result:
        import torch

        control = control or GenerationControl()
        started = time.perf_counter()
        request = self.hooks.before_process(request)
        request, entry, vae_entry = self.check(request)
        cost = self._cost_verdict(request, entry)  # may refuse (CostRefused) before any work
        inputs = prepare_inputs(request)
        timings: dict[str, float] = {}
        tick = time.perf_counter()
        loaded = self._load(entry)
        vae = None
        if vae_entry is not None:
            with load_errors_named(vae_entry, "vae"):
                vae = (vae_entry, loaded.vae(vae_entry, self.config.allow_pickle))
        refiner = None
        if request.refiner_checkpoint is not None:  # SDXL: the model that does the last steps
            refiner_entry = self.registry.find("checkpoint", request.refiner_checkpoint, "refiner_checkpoint")
            refiner = self._load(refiner_entry, "refiner_checkpoint")
        hires_model = None
        if request.enable_hr and request.hr_checkpoint_name:  # hires fix's second pass on another model
            hires_entry = self.registry.find("checkpoint", request.hr_checkpoint_name, "hr_checkpoint_name")
            hires_model = self._load(hires_entry, "hr_checkpoint_name")
        if request.model is None and self._current is None:
            self._current = entry
        inputs["controlnet"] = self.controlnets.prepare(request, loaded.pipe.device, loaded.pipe.dtype)
        timings["load"] = time.perf_counter() - tick
        if self.device.name == "cuda":
            torch.cuda.reset_peak_memory_stats()
        seed = random.randrange(MAX_SEED) if request.seed == -1 else request.seed
        subseed = random.randrange(MAX_SEED) if request.subseed == -1 else request.subseed
        from studio.pipeline.seeds import image_seeds

        all_seeds, all_subseeds = image_seeds(seed, subseed, request.subseed_strength, request.image_count)
        # styles, then each image's choices and wildcards from its own seed
        prompts = self.prompt_library.expand(request, all_seeds)
        result = Result(request=request, warnings=cost.warnings, cost=cost.to_json())
        denoise = save = 0.0
        memory_plan = self._memory_plan(request, entry, loaded)
        with (
            torch.no_grad(),
            self.controlnets.modes(inputs["controlnet"], request.cfg_scale),
            job_memory(
                loaded.pipe, vae and vae[1], memory_plan, loaded.device, self._registries.memory_strategies
            ),
            RefinerLoras(self._networks, refiner, result.warnings) as refiner_loras,
        ):
            for batch_index in range(request.n_iter):
                control.take_skip()
                if control.interrupted:
                    result.interrupted = True
                    break
                first = batch_index * request.batch_size
                seeds = all_seeds[first : first + request.batch_size]
                subseeds = all_subseeds[first : first + request.batch_size]
                self.hooks.process_batch(request, batch_index, seeds)
                # images whose prompts came out the same run together (all of them, usually)
                for start, end in same_prompt_runs(prompts[first : first + len(seeds)]):
                    image_prompt = prompts[first + start]
                    resolved = with_prompts(request, image_prompt)
                    plan, networks = self._apply_networks(loaded, vae, resolved)
                    plan = refiner_loras.apply(plan)  # the LoRAs that fit the refiner, on it too
                    hires = None
                    if hires_model is not None:  # the networks on it too, before the prompts are cached
                        hires = (hires_model, self._apply_networks(hires_model, vae, resolved)[1])
                    tick = time.perf_counter()
                    images: list[Any] = []  # stays empty when a stop comes inside a step (interrupt.py)
                    fine = needs_fine_checks(loaded.pipe, request.width, request.height, self.device.is_cpu)
                    loras = [(item.lora.entry.sha256, item.weights) for item in plan.loras]
                    before = control.last_step
                    with (
                        self._acceleration.running(resolved, loaded, vae, loras, result.warnings) as backend,
                        stop_inside_steps(
                            control,
                            loaded.pipe,
                            vae and vae[1],
                            fine=fine,
                            denoiser=backend.checks_inside_denoiser,
                        ),
                    ):
                        images = BatchRunner(
                            self.samplers,
                            self._prompts,
                            self.upscalers,
                            self.hooks,
                            self.config.clip_skip,
                            hires_model=hires,
                        ).run(
                            loaded,
                            vae,
                            resolved,
                            inputs,
                            seeds[start:end],
                            subseeds[start:end],
                            batch_index,
                            control,
                            networks,
                            offset=start,
                            refiner=refiner,
                        )
                    denoise += time.perf_counter() - tick
                    if (
                        cost.estimate is not None
                        and images
                        and not (control.interrupted or control.skip_requested)
                    ):
                        shape = JobShape.of(request, batch_size=end - start)
                        self._costs.learn(
                            shape, entry, self.device, self.config.memory, time.perf_counter() - tick
                        )
                    tick = time.perf_counter()
                    made = resolved
                    if control.interrupted or control.skip_requested:  # record the steps done
                        last = control.last_step if control.last_step is not before else None
                        made = stopped_batch(resolved, last, images, seeds[start:end], control, result)
                    for i, image in enumerate(images, start):
                        record = self._finish_image(
                            made,
                            entry,
                            vae_entry,
                            image,
                            seeds[i],
                            subseeds[i],
                            timings,
                            plan,
                            extra={**image_prompt.params, **self.controlnets.infotext(inputs["controlnet"])},
                        )
                        result.images.append(record)
                    save += time.perf_counter() - tick
                    if control.interrupted or control.skip_requested:
                        break  # a skip ends the whole batch, as it does unsplit
                if control.interrupted:
                    result.interrupted = True
                    break
        timings["denoise"] = denoise
        timings["save"] = save
        timings["total"] = time.perf_counter() - started
        result.timings = timings
        result.peak_memory_bytes = peak_memory(self.device.name)
        retries = vae_fp32_retries(loaded.pipe.vae) + (vae_fp32_retries(vae[1]) if vae else 0)
        result.runtime = runtime_report(loaded.device, memory_plan, retries)
        result.runtime["backend"] = self._acceleration.choose(request, loaded).to_json()
        self._last_device = loaded.device
        return self.hooks.postprocess(result)

    def _memory_plan(self, request: GenerationRequest, entry: ModelEntry, loaded: Any) -> MemoryPlan:
        """The automatic memory policy's strategies for this job (`studio.memory.policy`)."""
        if self._costs is None and self.config.memory_policy != "off":
            from studio.pipeline.cost_profile import CostEstimator

            self._costs = CostEstimator(self.registry)
        return plan_memory(
            self._costs,
            JobShape.of(request),
            entry,
            loaded.device,
            self.config.memory,
            self._registries.memory_strategies,
            self.config.memory_policy,
            loaded.pipe,
        )

    def _apply_networks(
        self, loaded: Any, vae: Any, request: GenerationRequest
    ) -> tuple[NetworkPlan, AppliedNetworks]:
        """Put the request's LoRAs and embeddings (and no others) on the model; the texts to
        encode come back with the tags taken out and embedding names as their tokens."""
        plan = self._networks.resolve(request)
        applied = self._networks.apply(loaded.pipeline(request.mode, vae), plan, loaded.family.name)
        if applied.changed:  # the text encoder changed: embeddings cached before are stale
            self._prompts = PromptEmbeddingCache()
        return plan, applied

    # -- model families (studio.pipeline.families): each family's checks and arguments --------
    def model_info(self, name: str | None = None) -> dict[str, Any]:
        """What the forms need to know of a checkpoint (the current or default one when `name`
        is None), without loading it: `studio.pipeline.families.describe_model`."""
        from studio.pipeline.families.info import describe_model

        entry = self.registry.find("checkpoint", name) if name else (self._current or self._default_entry())
        return describe_model(entry, self.registry.checkpoints(), self.samplers)

    def _finish_image(
        self,
        request: GenerationRequest,
        entry: ModelEntry,
        vae_entry: ModelEntry | None,
        image: Any,
        seed: int,
        subseed: int,
        timings: dict[str, float],
        networks: NetworkPlan,
        extra: dict[str, Any] | None = None,
    ) -> ImageRecord:
        image = self.upscalers.faces.restore_generated(request, image)
        params = generation_parameters(
            request,
            seed=seed,
            subseed=subseed,
            model_name=entry.model_name,
            model_hash=entry.hash10,
            vae_name=None if vae_entry is None else vae_entry.model_name,
            vae_hash=None if vae_entry is None else vae_entry.hash10,
            extra={**networks.infotext, **(extra or {})},
        )
        infotext = format_infotext(request.prompt, request.negative_prompt, params)
        image, infotext = self.hooks.postprocess_image(request, image, infotext)
        png = encode_png(image, infotext)
        path = None
        if request.save_images and self.config.samples_save:
            from studio.pipeline.outputs import save_image

            data, suffix = png, "png"
            if request.samples_format != "png":
                from studio.infotext import encode_image

                data, suffix = encode_image(image, infotext, request.samples_format), request.samples_format
            path = str(save_image(self.config.outputs_path, request.mode, seed, data, suffix=suffix))
            self.history.add(request, seed=seed, path=path, infotext=infotext, timings=dict(timings))
        return ImageRecord(png=png, seed=seed, subseed=subseed, infotext=infotext, path=path)


def _hires_fields(fields: set[str]) -> bool:
    """Whether any of `fields` is one of hires fix's (its own checks assume them valid)."""
    return any(name == "enable_hr" or name.startswith("hr_") for name in fields)


def png_to_image(png: bytes) -> Any:
    from PIL import Image

    return Image.open(io.BytesIO(png))
