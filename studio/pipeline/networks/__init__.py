"""LoRA / LyCORIS networks and textual-inversion embeddings, applied the way A1111 users expect.

- `catalog`: the installed files by A1111's names, hashes, and the API's listings (no torch).
- `lora_format`, `lora_keys`, `lora_math`: reading a LoRA file, finding the layers it patches,
  and the weight change of each module (LoRA, LoCon, LoHa, LoKr, full).
- `patcher`: applying a set of LoRAs to a loaded model (fused, or as forward hooks) and putting
  the base weights back bit for bit.
- `embeddings`: textual-inversion files, and using them by name in a prompt.
- `activation`: what the engine calls per request (`Networks.resolve`, `Networks.apply`).
"""
