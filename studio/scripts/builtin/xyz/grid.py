"""Drawing X/Y/Z grids with Pillow: cells in rows and columns, legends that stay readable.

Labels use Pillow's built-in scalable font (`ImageFont.load_default(size=...)`), sized from the
cell so a 64-pixel cell and a 1024-pixel cell both get legible text; long labels wrap.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

BACKGROUND = (255, 255, 255)
EMPTY_CELL = (200, 200, 200)
TEXT = (0, 0, 0)


def font_size_for(cell_width: int, cell_height: int) -> int:
    return max(14, min(64, (cell_width + cell_height) // 25))


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Lines of `text` that each fit in `width` pixels (words longer than that are cut)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        chars = max(1, len(paragraph))
        while chars > 1:
            candidate = textwrap.wrap(paragraph, chars, break_long_words=True) or [""]
            if all(draw.textlength(line, font=font) <= width for line in candidate):
                break
            chars -= 1
        lines += textwrap.wrap(paragraph, chars, break_long_words=True) or [""]
    return lines


def _text_block(lines: Sequence[str], font: ImageFont.FreeTypeFont) -> int:
    return int(len(lines) * font.size * 1.25)


def draw_grid(
    cells: Sequence[Sequence[Image.Image | None]],
    x_labels: Sequence[str],
    y_labels: Sequence[str],
    *,
    legend: bool = True,
    margin: int = 0,
) -> Image.Image:
    """`cells[row][column]`; a missing cell (None, e.g. after cancel) is drawn grey."""
    rows, columns = len(cells), len(cells[0]) if cells else 0
    present = [image for row in cells for image in row if image is not None]
    cell_w = max((image.width for image in present), default=64)
    cell_h = max((image.height for image in present), default=64)
    font = ImageFont.load_default(size=font_size_for(cell_w, cell_h))
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    pad = font.size // 2

    show_x = legend and any(x_labels)
    show_y = legend and any(y_labels)
    top_lines = [_wrap(measure, label, font, cell_w - 2 * pad) for label in x_labels] if show_x else []
    top = max((_text_block(lines, font) for lines in top_lines), default=0) + 2 * pad if show_x else 0
    left_w = min(max(cell_w, 3 * font.size * 4), 4 * cell_w) if show_y else 0
    left_lines = [_wrap(measure, label, font, left_w - 2 * pad) for label in y_labels] if show_y else []

    width = left_w + columns * cell_w + max(0, columns - 1) * margin
    height = top + rows * cell_h + max(0, rows - 1) * margin
    grid = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(grid)
    for column, lines in enumerate(top_lines):
        x = left_w + column * (cell_w + margin) + cell_w // 2
        y = pad + (top - 2 * pad - _text_block(lines, font)) // 2
        draw.multiline_text((x, y), "\n".join(lines), font=font, fill=TEXT, anchor="ma", align="center")
    for row, lines in enumerate(left_lines):
        y = top + row * (cell_h + margin) + (cell_h - _text_block(lines, font)) // 2
        draw.multiline_text(
            (left_w - pad, y), "\n".join(lines), font=font, fill=TEXT, anchor="ra", align="right"
        )
    for row in range(rows):
        for column in range(columns):
            x, y = left_w + column * (cell_w + margin), top + row * (cell_h + margin)
            image = cells[row][column]
            if image is None:
                draw.rectangle((x, y, x + cell_w - 1, y + cell_h - 1), fill=EMPTY_CELL)
            else:
                grid.paste(
                    image.convert("RGB"), (x + (cell_w - image.width) // 2, y + (cell_h - image.height) // 2)
                )
    return grid
