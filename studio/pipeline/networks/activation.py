"""What the engine calls: read a request's LoRA tags and embedding names, check them before the
job is queued, and put exactly those networks on the model before its prompt is encoded.

    plan = networks.resolve(request)        # RequestError naming the tag / file (a 4xx at the API)
    applied = networks.apply(pipe, plan)    # LoRAs fused, embeddings installed; others taken off
    encode(applied.prompt, applied.negative_prompt)
    infotext extra: plan.infotext           # `Lora hashes`, `TI hashes` as A1111 writes them

Rules (A1111's, where it has one):
- `<lora:...>` and `<lyco:...>` tags are read from the prompt and removed from the text that is
  encoded; the infotext keeps the prompt as written, so PNG Info and Send-to bring them back.
- A tag in the negative prompt is refused (A1111 would encode it as text, silently); so is any
  other extra-network kind (`<hypernet:...>`): hypernetworks are not supported.
- Embeddings are used wherever the prompt or the negative prompt writes their name.
- The same set with the same weights on the next job costs nothing; a different set puts the
  base weights back first (bit for bit), then applies the new one; no tags at all restores the
  base model.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from studio.pipeline.model_registry import ModelEntry, ModelRegistry
from studio.pipeline.networks.catalog import SHORT_HASH, LoraEntry, NetworkCatalog
from studio.pipeline.networks.embeddings import (
    EmbeddingFile,
    EmbeddingFormatError,
    EmbeddingPatcher,
    mentioned,
    read_embedding,
    replace_names,
)
from studio.pipeline.networks.lora_format import LoraFile, LoraFormatError, check_keys, read_lora_file
from studio.pipeline.networks.patcher import NetworkApplyError, NetworkPatcher, NetworkUse
from studio.pipeline.networks.safetensors_header import HeaderError, read_header
from studio.pipeline.networks.transformer_lora import rewrite_for_family
from studio.prompts.extra_networks import (
    LORA_KINDS,
    LoraWeights,
    TagError,
    extract_network_tags,
    lora_weights,
)
from studio.request import GenerationRequest, RequestError

FILE_CACHE = 8  # parsed LoRA / embedding files kept in memory
# the modules a LoRA may patch, in every family's pipeline
PATCHED_COMPONENTS = ("unet", "transformer", "text_encoder", "text_encoder_2", "text_encoder_3")
REWRITTEN_FAMILIES = ("flux", "flux-fill", "sd3", "z-image")


class NetworkError(RequestError):
    """A LoRA tag or embedding that cannot be used; the message names it (field `prompt`)."""


@dataclass(frozen=True)
class LoraRequest:
    lora: LoraEntry
    weights: LoraWeights
    tag: str  # as written, for messages
    mentioned_name: str  # the name the tag used (A1111 writes it in `Lora hashes`)


@dataclass(frozen=True)
class NetworkPlan:
    """A request's networks, resolved against the installed files (no model needed)."""

    prompt: str  # the prompt without its tags
    negative_prompt: str
    loras: list[LoraRequest] = field(default_factory=list)
    embeddings: list[tuple[str, ModelEntry]] = field(default_factory=list)  # used, prompt first
    refiner_skipped: tuple[str, ...] = ()  # LoRAs that do not fit the refiner (`refiner_loras`)

    @property
    def infotext(self) -> dict[str, str]:
        """`Lora hashes` and `TI hashes`, A1111's `name: hash12, name2: hash12` (`:` and `,`
        taken out of names); absent when there are none."""
        params: dict[str, str] = {}
        loras: dict[str, str] = {}
        for item in self.loras:
            loras[_clean(item.mentioned_name)] = item.lora.short_hash
        if loras:
            params["Lora hashes"] = ", ".join(f"{name}: {short}" for name, short in loras.items())
        if self.refiner_skipped:
            params["Refiner LoRAs skipped"] = ", ".join(_clean(name) for name in self.refiner_skipped)
        if self.embeddings:
            params["TI hashes"] = ", ".join(
                f"{_clean(name)}: {entry.sha256[:SHORT_HASH]}" for name, entry in self.embeddings
            )
        return params


@dataclass(frozen=True)
class AppliedNetworks:
    prompt: str  # to encode: tags removed, embedding names replaced by their tokens
    negative_prompt: str
    changed: bool  # the text encoder or tokenizer changed: cached prompt embeddings are stale


class _ModelNetworks:
    def __init__(self) -> None:
        self.loras = NetworkPatcher()
        self.embeddings = EmbeddingPatcher()


class Networks:
    """LoRAs and embeddings for one engine: names resolved through `registry`, files parsed
    once (the last few kept), patches kept per loaded model (dropped with it)."""

    def __init__(self, registry: ModelRegistry, allow_pickle: Callable[[], bool], fuse: bool = True) -> None:
        """`allow_pickle` reads the setting when needed (the engine's config can be replaced)."""
        self.catalog = NetworkCatalog(registry)
        self.allow_pickle = allow_pickle
        self.fuse = fuse
        self._models: weakref.WeakKeyDictionary[Any, _ModelNetworks] = weakref.WeakKeyDictionary()
        self._files: OrderedDict[tuple[str, int, int], Any] = OrderedDict()

    # -- before the job -----------------------------------------------------------------------
    def resolve(self, request: GenerationRequest) -> NetworkPlan:
        """The request's LoRAs and embeddings; NetworkError naming the tag or file when one is
        missing, of an unsupported format, or a pickle file without the allowance."""
        prompt, tags = extract_network_tags(request.prompt)
        negative, negative_tags = extract_network_tags(request.negative_prompt)
        if negative_tags:
            raise NetworkError(
                "negative_prompt",
                f"{negative_tags[0].text}: extra networks work in the prompt only; remove it from the "
                "negative prompt",
            )
        loras = []
        for tag in tags:
            if tag.kind not in LORA_KINDS:
                raise NetworkError(
                    "prompt",
                    f"{tag.text}: {tag.kind!r} networks are not supported (supported: <lora:name:weight>, "
                    "<lyco:name:weight>)",
                )
            try:
                weights = lora_weights(tag)
            except TagError as error:
                raise NetworkError("prompt", str(error)) from None
            lora = self.catalog.find_lora(weights.name, tag.text)
            self._check_lora_file(lora, tag.text)
            loras.append(LoraRequest(lora, weights, tag.text, weights.name))
        embeddings = self.catalog.embeddings()
        used = mentioned(prompt, embeddings)
        used += [name for name in mentioned(negative, embeddings) if name not in used]
        for name in used:
            entry = embeddings[name]
            if entry.is_pickle and not self.allow_pickle():
                raise NetworkError(
                    "prompt",
                    f"embedding {name!r} ({entry.name}) is a pickle file: unpickling can run arbitrary code. "
                    "Convert it to .safetensors, or start with --allow-pickle if you trust where it came from.",
                )
        return NetworkPlan(prompt, negative, loras, [(name, embeddings[name]) for name in used])

    def _check_lora_file(self, lora: LoraEntry, tag: str) -> None:
        entry = lora.entry
        if entry.is_pickle:
            if not self.allow_pickle():
                raise NetworkError(
                    "prompt",
                    f"{tag}: {entry.name} is a pickle file: unpickling can run arbitrary code. Convert it to "
                    ".safetensors, or start with --allow-pickle if you trust where it came from.",
                )
            return
        try:
            check_keys(entry.name, read_header(entry.path).tensors)
        except (HeaderError, LoraFormatError) as error:
            raise NetworkError("prompt", f"{tag}: {error}") from None

    # -- on the model -------------------------------------------------------------------------
    def apply(self, pipe: Any, plan: NetworkPlan, family: str = "sd15") -> AppliedNetworks:
        """Put the plan's networks (and only those) on the pipeline's modules: its UNet or
        transformer and its text encoders. `family`: the model's family (the transformer
        families' original layer names are rewritten for it, `transformer_lora`)."""
        denoiser = getattr(pipe, "unet", None) or pipe.transformer
        state = self._models.get(denoiser)
        if state is None:
            state = self._models[denoiser] = _ModelNetworks()
        uses = [self.lora_use(item, family, denoiser.config) for item in plan.loras]
        components = {
            name: getattr(pipe, name) for name in PATCHED_COMPONENTS if getattr(pipe, name, None) is not None
        }
        try:
            lora_changed = state.loras.apply(components, uses, fuse=self.fuse)
        except NetworkApplyError as error:
            raise NetworkError("prompt", str(error)) from None
        files = [self._embedding(name, entry) for name, entry in plan.embeddings]
        try:
            embeddings_changed = state.embeddings.apply(pipe, files)
        except EmbeddingFormatError as error:
            raise NetworkError("prompt", str(error)) from None
        placeholders = {embedding.name: embedding.placeholders() for embedding in files}
        return AppliedNetworks(
            replace_names(plan.prompt, placeholders),
            replace_names(plan.negative_prompt, placeholders),
            changed=lora_changed or embeddings_changed,
        )

    def lora_use(self, item: LoraRequest, family: str, config: Any) -> NetworkUse:
        """The LoRA file of `item` read (cached) and rewritten for `family`, with its weights."""
        entry = item.lora.entry
        file = self._cached(entry, lambda: read_lora_file(entry.path, self.allow_pickle()))
        assert isinstance(file, LoraFile)
        if family in REWRITTEN_FAMILIES:
            try:
                modules = rewrite_for_family(file.modules, family, config)
            except LoraFormatError as error:
                raise NetworkError("prompt", f"{item.tag}: {file.path.name}: {error}") from None
            file = LoraFile(file.path, modules, file.metadata)
        if item.weights.dyn is not None and any(module.kind != "lora" for module in file.modules):
            raise NetworkError(
                "prompt", f"{item.tag}: dyn applies to LoRA/LoCon files; this one is {file.format_name}"
            )
        stat = entry.path.stat()
        return NetworkUse(
            item.mentioned_name,
            file,
            (str(entry.path), stat.st_size, stat.st_mtime_ns),
            item.weights.te,
            item.weights.unet,
            item.weights.dyn,
        )

    def _embedding(self, name: str, entry: ModelEntry) -> EmbeddingFile:
        try:
            file = self._cached(
                entry, lambda: read_embedding(entry.path, entry.sha256[:SHORT_HASH], self.allow_pickle())
            )
        except EmbeddingFormatError as error:
            raise NetworkError("prompt", f"embedding {name!r}: {error}") from None
        assert isinstance(file, EmbeddingFile)
        return file

    def _cached(self, entry: ModelEntry, load: Any) -> Any:
        stat = entry.path.stat()
        key = (str(entry.path), stat.st_size, stat.st_mtime_ns)
        if key in self._files:
            self._files.move_to_end(key)
            return self._files[key]
        try:
            value = load()
        except LoraFormatError as error:
            raise NetworkError("prompt", str(error)) from None
        self._files[key] = value
        while len(self._files) > FILE_CACHE:
            self._files.popitem(last=False)
        return value


def _clean(name: str) -> str:
    return name.replace(":", "").replace(",", "")
