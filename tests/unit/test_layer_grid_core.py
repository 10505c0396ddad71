"""Argmax-centred crops, paging and the layer grid's query filter."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.analyses import layer_grid as lg
from core.errors import BadInputError


def test_crop_box_centres_on_the_cell_and_stays_inside():
    assert lg.crop_box(0, (4, 4), 128, 2) == (0, 0, 64, 64)  # a corner cell: clamped inside
    assert lg.crop_box(5, (4, 4), 128, 2) == (16, 16, 80, 80)  # cell (1,1) spans 32..63: centre 48
    assert lg.crop_box(None, None, 128, 1) == (0, 0, 128, 128)
    with pytest.raises(BadInputError):
        lg.crop_box(0, (4, 4), 128, 0.5)


def test_argmax_crop_shows_the_cell():
    im = Image.new("RGB", (128, 128), "white")
    im.paste((255, 0, 0), (96, 96, 128, 128))  # the last cell of a 4x4 grid is red
    crop = np.asarray(lg.argmax_crop(im, 15, (4, 4), size=64, zoom=4))
    assert crop.shape == (64, 64, 3) and crop[..., 0].mean() > 250 and crop[..., 1].mean() < 10


def test_paging_and_query():
    assert lg.page_count(2560, 48) == 54 and lg.page_of(list(range(100)), 3, 48) == [96, 97, 98, 99]
    assert lg.page_of(list(range(10)), 99, 4) == [8, 9]
    assert lg.units_for_query("", 5) == [0, 1, 2, 3, 4]
    assert lg.units_for_query(" 3 ", 5) == [3] and lg.units_for_query("9", 5) == []
    assert lg.units_for_query("spider", 3000, names={1: "Spider-Man", 2: "cat"}, ranked=[7, 1, 5]) == [1, 7, 5]
