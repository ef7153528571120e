"""Write CLIP tokenizer files (vocab.json, merges.txt, configs) for a vocabulary we choose.

The tiny test models and the starter model need a real `CLIPTokenizer` without downloading
one. We build a byte-level BPE exactly like CLIP's: the 256 byte symbols, the same symbols
with the end-of-word suffix `</w>`, then merges learned greedily (most frequent pair first)
until every given word is one token, then `<|startoftext|>` and `<|endoftext|>`. Because the
merges are learned in the order BPE applies them, each given word tokenizes to its own id;
any other text still tokenizes (into smaller pieces), never to unknown tokens.
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable
from functools import cache
from pathlib import Path

END_OF_WORD = "</w>"
BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"
MODEL_MAX_LENGTH = 77


@cache
def bytes_to_unicode() -> dict[int, str]:
    """CLIP/GPT-2's reversible map from bytes to printable unicode characters."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(printable, [chr(c) for c in chars], strict=True))


def _symbols(word: str) -> tuple[str, ...]:
    mapping = bytes_to_unicode()
    chars = [mapping[b] for b in word.encode("utf-8")]
    return (*chars[:-1], chars[-1] + END_OF_WORD)


def _merge(symbols: tuple[str, ...], pair: tuple[str, str]) -> tuple[str, ...]:
    merged: list[str] = []
    i = 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            merged.append(symbols[i] + symbols[i + 1])
            i += 2
        else:
            merged.append(symbols[i])
            i += 1
    return tuple(merged)


def learn_merges(words: Iterable[str]) -> list[tuple[str, str]]:
    """BPE merges that turn every word (lower-cased, stripped) into a single token."""
    unique = sorted({w.strip().lower() for w in words if w.strip()})
    for word in unique:
        if any(ch.isspace() for ch in word):
            raise ValueError(f"words: {word!r} contains whitespace; give single words")
    pieces = {word: _symbols(word) for word in unique}
    merges: list[tuple[str, str]] = []
    while True:
        counts: Counter[tuple[str, str]] = Counter()
        for symbols in pieces.values():
            for pair in itertools.pairwise(symbols):
                counts[pair] += 1
        if not counts:
            return merges
        best_count = max(counts.values())
        pair = min(p for p, c in counts.items() if c == best_count)
        merges.append(pair)
        pieces = {word: _merge(symbols, pair) for word, symbols in pieces.items()}


def _write_atomic(path: Path, text: str) -> None:
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, delete=False, suffix=".tmp", encoding="utf-8"
    ) as f:
        f.write(text)
        name = f.name
    os.chmod(name, 0o644)
    os.replace(name, path)


def write_clip_tokenizer(folder: Path, words: Iterable[str]) -> Path:
    """Write a CLIPTokenizer folder that knows `words` as whole tokens; returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    merges = learn_merges(words)
    base = list(bytes_to_unicode().values())
    tokens = base + [ch + END_OF_WORD for ch in base]
    seen = set(tokens)
    for left, right in merges:
        token = left + right
        if token not in seen:
            seen.add(token)
            tokens.append(token)
    tokens += [BOS_TOKEN, EOS_TOKEN]
    vocab = {token: index for index, token in enumerate(tokens)}
    _write_atomic(folder / "vocab.json", json.dumps(vocab, ensure_ascii=False))
    merge_lines = "\n".join(f"{left} {right}" for left, right in merges)
    _write_atomic(folder / "merges.txt", "#version: 0.2\n" + merge_lines + ("\n" if merges else ""))
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": MODEL_MAX_LENGTH,
        "bos_token": BOS_TOKEN,
        "eos_token": EOS_TOKEN,
        "unk_token": EOS_TOKEN,
        "pad_token": EOS_TOKEN,
        "do_lower_case": True,
        "clean_up_tokenization_spaces": False,
    }
    _write_atomic(folder / "tokenizer_config.json", json.dumps(config, indent=2))
    special = {"bos_token": BOS_TOKEN, "eos_token": EOS_TOKEN, "unk_token": EOS_TOKEN, "pad_token": EOS_TOKEN}
    _write_atomic(folder / "special_tokens_map.json", json.dumps(special, indent=2))
    return folder
