"""The X/Y/Z plot: a selectable script that runs a checked plan of cells and draws the grids.

Each cell is an ordinary generation (`context.generate`, the engine with the always-on
scripts), so it is saved with its own full infotext and equals the same request run alone.
Progress is reported as one job: image i of (cells x images per cell). Cancelling stops
after the running cell; finished cells are kept and the rest drawn grey.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from PIL import Image

from studio.infotext import encode_png
from studio.progress import GenerationControl, StepInfo
from studio.request import GenerationRequest, ImageRecord, Result
from studio.scripts.base import Choices, RunContext, Script
from studio.scripts.builtin.xyz.axes import axis_names, find_axis
from studio.scripts.builtin.xyz.grid import draw_grid
from studio.scripts.builtin.xyz.plan import LETTERS, Plan, make_plan
from studio.scripts.builtin.xyz.values import join_list
from studio.scripts.manager import without_script
from studio.scripts.params import Param

XYZ_NAME = "X/Y/Z plot"
GRIDS_FOLDER = "xyz-grids"


def _axis_params(letter: str, default: str) -> tuple[Param, ...]:
    upper = letter.upper()
    return (
        Param(f"{letter}_type", "choice", default=default, choices=tuple(axis_names()), label=f"{upper} type",
              help="axis name (or A1111's integer index)"),
        Param(f"{letter}_values", "text", default="", label=f"{upper} values",
              help='comma list ("a, b", c), ranges 1-5, 1-5 (+2), 1-10 [5], 0.5-1.5 (+0.25)'),
        Param(f"{letter}_values_dropdown", "list", default=(), label=f"{upper} values (list)",
              help="for name axes (sampler, checkpoint ...): the values as a list"),
    )  # fmt: skip


class CellControl(GenerationControl):
    """One cell's control: interrupt/skip go to the job's control; steps are reported as
    progress over the whole sweep (image_index offset by the cells before)."""

    def __init__(self, outer: GenerationControl, image_offset: int, image_total: int) -> None:
        super().__init__()
        self._outer = outer
        self._offset = image_offset
        self._total = image_total

    def interrupt(self) -> None:
        self._outer.interrupt()

    def skip(self) -> None:
        self._outer.skip()

    @property
    def interrupted(self) -> bool:
        return self._outer.interrupted

    @property
    def skip_requested(self) -> bool:
        return self._outer.skip_requested

    def take_skip(self) -> bool:
        return self._outer.take_skip()

    def report_step(self, info: StepInfo) -> None:
        self._outer.report_step(
            replace(info, image_index=self._offset + info.image_index, image_count=self._total)
        )


class XYZPlot(Script):
    name = XYZ_NAME
    description = "Sweep up to three settings and draw the results as a labelled grid."
    kind = "selectable"
    params = (
        *_axis_params("x", "Nothing"),
        *_axis_params("y", "Nothing"),
        *_axis_params("z", "Nothing"),
        Param("draw_legend", "bool", default=True, label="Draw legend"),
        Param("include_lone_images", "bool", default=False, label="Include sub-images"),
        Param("include_sub_grids", "bool", default=False, label="Include sub-grids"),
        Param("no_fixed_seeds", "bool", default=False, label="Keep -1 for seeds",
              help="each cell draws its own random seed instead of one shared seed"),
        Param("vary_seeds_x", "bool", default=False, label="Vary seeds for X"),
        Param("vary_seeds_y", "bool", default=False, label="Vary seeds for Y"),
        Param("vary_seeds_z", "bool", default=False, label="Vary seeds for Z"),
        Param("margin_size", "int", default=0, minimum=0, maximum=500, label="Grid margins (px)"),
        Param("csv_mode", "bool", default=False, label="Use text inputs instead of dropdowns"),
    )  # fmt: skip

    def resolve_args(self, given: Any, request: GenerationRequest | None = None) -> dict[str, Any]:
        """A1111 sends axis types as integer indexes (into its txt2img or img2img table): map
        them onto axis names first."""
        values = dict(given or {})
        img2img = request is not None and request.mode != "txt2img"
        for letter in LETTERS:
            key = f"{letter}_type"
            if key in values and not isinstance(values[key], bool):
                try:
                    values[key] = find_axis(values[key], img2img=img2img).name
                except KeyError as error:
                    from studio.scripts.params import ScriptArgsError

                    raise ScriptArgsError(self.name, key, str(error.args[0])) from None
        return super().resolve_args(values, request)

    def check(self, request: GenerationRequest, args: dict[str, Any], choices: Choices) -> None:
        make_plan(self.name, without_script(request, self.name), args, choices)

    def plan(self, request: GenerationRequest, args: Mapping[str, Any], context: RunContext) -> Plan:
        return make_plan(self.name, without_script(request, self.name), args, context.choices)

    def run(self, request: GenerationRequest, args: dict[str, Any], context: RunContext) -> Result:
        plan = self.plan(request, args, context)  # raises before anything runs
        started = time.perf_counter()
        per_cell = plan.base.image_count
        total = per_cell * len(plan.cells)
        results: dict[tuple[int, int, int], Result] = {}
        timings: dict[str, float] = {}
        for number, cell in enumerate(plan.cells):
            if context.control.interrupted:
                break
            control = CellControl(context.control, number * per_cell, total)
            result = context.generate(cell.request, control)
            for phase, seconds in result.timings.items():
                timings[phase] = timings.get(phase, 0.0) + seconds
            if context.control.interrupted and result.interrupted:
                break  # the cell was cut short: not a finished cell
            results[cell.index] = result
        grid_started = time.perf_counter()
        images = self._assemble(plan, results, args, context)
        timings["grid"] = time.perf_counter() - grid_started
        timings["total"] = time.perf_counter() - started
        return Result(
            request=request,
            images=images,
            timings=timings,
            peak_memory_bytes=max((r.peak_memory_bytes for r in results.values()), default=0),
            interrupted=len(results) < len(plan.cells),
        )

    # -- grids ------------------------------------------------------------------------------

    def _assemble(
        self,
        plan: Plan,
        results: Mapping[tuple[int, int, int], Result],
        args: Mapping[str, Any],
        context: RunContext,
    ) -> list[ImageRecord]:
        outputs = context.outputs_dir
        x_axis, y_axis, z_axis = plan.axes
        nx, ny, nz = plan.shape
        decoded = {
            index: Image.open(io.BytesIO(result.images[0].png)).convert("RGB")
            for index, result in results.items()
            if result.images
        }
        legend, margin = bool(args["draw_legend"]), int(args["margin_size"] or 0)
        x_labels = x_axis.labels if x_axis.axis.name != "Nothing" else [""] * nx
        y_labels = y_axis.labels if y_axis.axis.name != "Nothing" else [""] * ny
        sub_grids = [
            draw_grid(
                [[decoded.get((ix, iy, iz)) for ix in range(nx)] for iy in range(ny)],
                x_labels,
                y_labels,
                legend=legend,
                margin=margin,
            )
            for iz in range(nz)
        ]
        first = next(
            (
                results[cell.index]
                for cell in plan.cells
                if cell.index in results and results[cell.index].images
            ),
            None,
        )
        infotext = self._grid_infotext(plan, first.images[0].infotext if first else "")
        seed, subseed = (
            (first.images[0].seed, first.images[0].subseed) if first else (plan.base.seed, plan.base.subseed)
        )
        stamp = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]

        # the saved cells, opened from the first grid's History entry
        cell_paths = [image.path for result in results.values() for image in result.images if image.path]

        def record(image: Image.Image, suffix: str) -> ImageRecord:
            png = _png(image, infotext)
            path = _save(outputs / GRIDS_FOLDER / f"{stamp}{suffix}.png", png) if outputs else None
            if path is not None and context.history is not None:
                context.history.add_grid(
                    plan.base, seed=seed, path=path, infotext=infotext, cell_paths=list(cell_paths)
                )
                cell_paths.clear()
            return ImageRecord(png=png, seed=seed, subseed=subseed, infotext=infotext, path=path)

        images: list[ImageRecord] = []
        if nz > 1 and z_axis.axis.name != "Nothing":
            overview = draw_grid([sub_grids], z_axis.labels, [""], legend=legend, margin=max(margin, 8))
            images.append(record(overview, ""))
            if args["include_sub_grids"]:
                images += [record(grid, f"-z{iz + 1}") for iz, grid in enumerate(sub_grids)]
        else:
            images += [record(grid, "" if nz == 1 else f"-z{iz + 1}") for iz, grid in enumerate(sub_grids)]
        if args["include_lone_images"]:
            for cell in plan.cells:
                if cell.index in results:
                    images += results[cell.index].images
        return images

    def _grid_infotext(self, plan: Plan, cell_infotext: str) -> str:
        parts = [f"Script: {self.name}"]
        for axis_plan in plan.axes:
            if axis_plan.axis.name == "Nothing":
                continue
            values = join_list([axis_plan.axis.format(value) for value in axis_plan.values])
            letter = axis_plan.letter.upper()
            # JSON-quoted like every infotext value, so parse_infotext gives the list back
            parts += [
                f"{letter} Type: {axis_plan.axis.name}",
                f"{letter} Values: {json.dumps(values, ensure_ascii=False)}",
            ]
        suffix = ", ".join(parts)
        return f"{cell_infotext}, {suffix}" if cell_infotext else suffix


def _png(image: Image.Image, infotext: str) -> bytes:
    return encode_png(image, infotext)


def _save(path: Path, data: bytes) -> str:
    """Write atomically (temp file + replace); returns the path as a string."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as handle:
        handle.write(data)
        temp = handle.name
    os.replace(temp, path)
    return str(path)
