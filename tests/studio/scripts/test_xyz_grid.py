from PIL import Image

from studio.scripts.builtin.xyz.grid import EMPTY_CELL, draw_grid, font_size_for


def cell(color):
    return Image.new("RGB", (64, 64), color)


def test_grid_places_cells_and_draws_readable_labels():
    cells = [[cell((255, 0, 0)), cell((0, 255, 0))], [cell((0, 0, 255)), None]]
    grid = draw_grid(cells, ["Steps: 5", "Steps: 10"], ["Sampler: Euler", "Sampler: DDIM"], margin=4)
    left = grid.width - (2 * 64 + 4)
    top = grid.height - (2 * 64 + 4)
    assert left > 0 and top > 0
    assert grid.getpixel((left + 10, top + 10)) == (255, 0, 0)
    assert grid.getpixel((left + 64 + 4 + 10, top + 10)) == (0, 255, 0)
    assert grid.getpixel((left + 10, top + 64 + 4 + 10)) == (0, 0, 255)
    assert grid.getpixel((left + 64 + 4 + 10, top + 64 + 4 + 10)) == EMPTY_CELL
    # label areas hold dark text pixels
    header = grid.crop((left, 0, grid.width, top))
    side = grid.crop((0, top, left, grid.height))
    assert header.convert("L").getextrema()[0] < 80
    assert side.convert("L").getextrema()[0] < 80


def test_font_scales_with_the_cell_and_legend_can_be_off():
    assert font_size_for(64, 64) == 14
    assert font_size_for(1024, 1024) > 2 * font_size_for(256, 256) - 1
    plain = draw_grid([[cell((1, 2, 3))]], ["x"], ["y"], legend=False)
    assert plain.size == (64, 64)
