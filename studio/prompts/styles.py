"""Prompt styles kept in A1111's `styles.csv` (columns name, prompt, negative_prompt).

The rules are AUTOMATIC1111's (modules/styles.py):
- applying a style whose text holds `{prompt}` puts the prompt in its place; any other style
  text is appended after the prompt with ", " (empty parts dropped); styles apply in order,
  each to the result of the one before, the negative prompt the same way with the styles'
  negative texts;
- the prompt an image records is the styled one; PNG Info finds the styles back by peeling
  them off the end (or around `{prompt}`) of the prompt and negative prompt, last style first.

The file is UTF-8 with a BOM, as A1111 writes it, with a `.bak` of the previous version kept on
every save. It is read on every call, so a `styles.csv` dropped into the data dir (or edited by
hand) is used at once. No torch, no web framework: the engine, the HTTP layer and the UI share it.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from studio.request import RequestError

FILE_NAME = "styles.csv"
COLUMNS = ("name", "prompt", "negative_prompt")
PLACEHOLDER = "{prompt}"
MAX_NAME = 200
_SPACES = re.compile("  +")
# A1111's "Infotext: handle styles": Ignore them; Apply (take them off the prompt and select
# them); Discard (take them off, select nothing); Apply if any (Apply, when some were found)
INFOTEXT_STYLE_MODES = ("Ignore", "Apply", "Discard", "Apply if any")


@dataclass(frozen=True)
class PromptStyle:
    name: str
    prompt: str = ""
    negative_prompt: str = ""

    def to_json(self) -> dict[str, str]:
        return asdict(self)


def merge_prompts(style_text: str, prompt: str) -> str:
    """One style applied to a prompt (A1111's merge_prompts)."""
    if PLACEHOLDER in style_text:
        return style_text.replace(PLACEHOLDER, prompt)
    return ", ".join(part for part in (prompt.strip(), style_text.strip()) if part)


def apply_style_texts(prompt: str, style_texts: Iterable[str]) -> str:
    for text in style_texts:
        prompt = merge_prompts(text, prompt)
    return prompt


def extract_style_text(style_text: str, prompt: str) -> tuple[bool, str]:
    """(True, prompt without the style) when `prompt` could have been made by applying it."""
    stripped_prompt = _SPACES.sub(" ", prompt.strip())
    stripped_style = _SPACES.sub(" ", style_text.strip())
    if PLACEHOLDER in stripped_style:
        left, right = stripped_style.split(PLACEHOLDER, 1)
        if stripped_prompt.startswith(left) and stripped_prompt.endswith(right):
            return True, stripped_prompt[len(left) : len(stripped_prompt) - len(right)]
    elif stripped_prompt.endswith(stripped_style):
        rest = stripped_prompt[: len(stripped_prompt) - len(stripped_style)]
        return True, rest[:-2] if rest.endswith(", ") else rest
    return False, prompt


def extract_styles(
    styles: Sequence[PromptStyle], prompt: str, negative_prompt: str
) -> tuple[list[str], str, str]:
    """The styles that explain the end of the prompts (in the order they were applied), and the
    prompts without them (A1111's extract_styles_from_prompt)."""
    found: list[str] = []
    candidates = [style for style in styles if style.prompt or style.negative_prompt]
    while True:
        for style in candidates:
            matched, positive = extract_style_text(style.prompt, prompt)
            if not matched:
                continue
            matched, negative = extract_style_text(style.negative_prompt, negative_prompt)
            if not matched:
                continue
            prompt, negative_prompt = positive, negative
            candidates.remove(style)
            found.append(style.name)
            break
        else:
            break
    return list(reversed(found)), prompt, negative_prompt


def infotext_styles(
    parsed: Mapping[str, Any], styles: Sequence[PromptStyle], mode: str = "Apply if any"
) -> dict[str, Any]:
    """Parsed infotext (`studio.infotext.parse_infotext`) with its styles found as A1111's PNG
    Info finds them: the prompts without the styles' text and, when applied, the style names
    under "Styles array" (A1111's key)."""
    result = dict(parsed)
    if mode == "Ignore":
        return result
    found, prompt, negative = extract_styles(
        styles, str(parsed.get("Prompt", "")), str(parsed.get("Negative prompt", ""))
    )
    result["Prompt"], result["Negative prompt"] = prompt, negative
    if mode == "Apply" or (mode == "Apply if any" and found):
        result["Styles array"] = found
    return result


def parse_styles_csv(text: str, field_name: str = "file") -> list[PromptStyle]:
    """Styles from CSV text in A1111's format (a `text` column is read as `prompt`, as A1111
    reads its oldest files); rows with an empty name or one starting with '#' are skipped."""
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")), skipinitialspace=True)
    header = [name.strip() for name in reader.fieldnames or []]
    if "name" not in header or not ({"prompt", "text"} & set(header)):
        raise RequestError(
            field_name,
            f"not an A1111 styles.csv: the header must name the columns {', '.join(COLUMNS)} "
            f"(found: {', '.join(header) or 'no header'})",
        )
    reader.fieldnames = header
    styles: dict[str, PromptStyle] = {}
    for row in reader:
        name = (row.get("name") or "").strip()
        if not name or name.startswith("#"):
            continue
        prompt = row.get("prompt") if "prompt" in header else row.get("text")
        styles[name] = PromptStyle(name, prompt or "", row.get("negative_prompt") or "")
    return list(styles.values())


def format_styles_csv(styles: Iterable[PromptStyle]) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for style in styles:
        writer.writerow(style.to_json())
    return buffer.getvalue()


def check_style(style: PromptStyle) -> PromptStyle:
    """The style with its name stripped, or RequestError naming the bad field."""
    name = style.name.strip() if isinstance(style.name, str) else style.name
    if not isinstance(name, str) or not name:
        raise RequestError("name", "a style needs a name")
    if len(name) > MAX_NAME or any(ch in name for ch in "\r\n"):
        raise RequestError("name", f"a style name is one line of at most {MAX_NAME} characters")
    if name.startswith("#"):
        raise RequestError("name", "a style name cannot start with '#' (A1111 reads such rows as comments)")
    for field_name in ("prompt", "negative_prompt"):
        if not isinstance(getattr(style, field_name), str):
            raise RequestError(field_name, "expected a string")
    return PromptStyle(name, style.prompt, style.negative_prompt)


class StyleLibrary:
    """The styles of one studio, in `data_dir/styles.csv`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    # -- reading ------------------------------------------------------------------------------
    def styles(self) -> list[PromptStyle]:
        try:
            text = self.path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            return []
        return parse_styles_csv(text, FILE_NAME)

    def names(self) -> list[str]:
        return [style.name for style in self.styles()]

    def get(self, name: str) -> PromptStyle:
        for style in self.styles():
            if style.name == name:
                return style
        raise RequestError("name", f"no style named {name!r}")

    def resolve(self, names: Sequence[str], field_name: str = "styles") -> list[PromptStyle]:
        """The styles named, in that order; RequestError naming every unknown one."""
        if isinstance(names, str) or not all(isinstance(name, str) for name in names):
            raise RequestError(field_name, "expected a list of style names")
        known = {style.name: style for style in self.styles()}
        missing = [name for name in names if name not in known]
        if missing:
            choices = ", ".join(known) or "(none: add some in the Styles editor or styles.csv)"
            raise RequestError(
                field_name, f"unknown style(s) {', '.join(map(repr, missing))}; choose from: {choices}"
            )
        return [known[name] for name in names]

    def apply(self, prompt: str, negative_prompt: str, names: Sequence[str]) -> tuple[str, str]:
        """The prompts with the named styles applied, in order (A1111's rules)."""
        styles = self.resolve(names)
        return (
            apply_style_texts(prompt, [style.prompt for style in styles]),
            apply_style_texts(negative_prompt, [style.negative_prompt for style in styles]),
        )

    def extract(self, prompt: str, negative_prompt: str) -> tuple[list[str], str, str]:
        return extract_styles(self.styles(), prompt, negative_prompt)

    # -- writing ------------------------------------------------------------------------------
    def save(self, style: PromptStyle, *, replace: str | None = None) -> PromptStyle:
        """Create or update `style` (by name); `replace` names a style it renames. Kept in place
        in the file's order; a new one goes last."""
        style = check_style(style)
        with self._lock:
            styles = self.styles()
            names = [existing.name for existing in styles]
            if replace is not None and replace not in names:
                raise RequestError("replace", f"no style named {replace!r}")
            if replace is not None and replace != style.name and style.name in names:
                raise RequestError("name", f"a style named {style.name!r} already exists")
            target = replace if replace is not None else style.name
            if target in names:
                styles[names.index(target)] = style
            else:
                styles.append(style)
            self._write(styles)
        return style

    def delete(self, name: str) -> None:
        with self._lock:
            styles = self.styles()
            kept = [style for style in styles if style.name != name]
            if len(kept) == len(styles):
                raise RequestError("name", f"no style named {name!r}")
            self._write(kept)

    def import_csv(self, text: str) -> list[str]:
        """Merge the styles of an A1111 styles.csv: same names are replaced, new ones appended.
        Returns the names imported."""
        incoming = [check_style(style) for style in parse_styles_csv(text)]
        with self._lock:
            styles = self.styles()
            names = [style.name for style in styles]
            for style in incoming:
                if style.name in names:
                    styles[names.index(style.name)] = style
                else:
                    styles.append(style)
                    names.append(style.name)
            self._write(styles)
        return [style.name for style in incoming]

    def _write(self, styles: Sequence[PromptStyle]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            shutil.copyfile(self.path, self.path.with_name(self.path.name + ".bak"))
        handle, temp = tempfile.mkstemp(prefix=".styles-", suffix=".csv", dir=self.path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8-sig", newline="") as file:
                file.write(format_styles_csv(styles))
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
