"""Word rendering, sticker labels and the article's attack pattern (core.analyses.raster)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.analyses import raster
from core.errors import CoreError


def _noise(size=96, seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


def test_fonts_are_shipped_and_split():
    assert len(raster.TRAIN_FONTS) >= 10
    assert len(raster.HELDOUT_FONTS) == 4
    assert not set(raster.TRAIN_FONTS) & set(raster.HELDOUT_FONTS)
    for name in raster.TRAIN_FONTS + raster.HELDOUT_FONTS:
        assert (raster.FONT_DIR / f"{name}.ttf").is_file()
    assert (raster.FONT_DIR / "LICENSE-DejaVu.txt").is_file()


def test_unknown_font_lists_valid_names():
    with pytest.raises(raster.FontNotFoundError, match="DejaVuSans-Bold"):
        raster.load_font("Comic Sans", 12)


def test_render_word_deterministic_without_rng():
    a = raster.render_word("flower", size=64)
    b = raster.render_word("flower", size=64)
    assert a.size == (64, 64) and a.mode == "RGB"
    assert a.tobytes() == b.tobytes()
    arr = np.asarray(a)
    dark = (arr.sum(-1) < 200).mean()
    assert 0.03 < dark < 0.6, "the word should be drawn, not empty and not a blob"
    assert raster.render_word("flower", size=64, font="DejaVuSerif").tobytes() != a.tobytes()


def test_render_word_randomised_with_rng_is_seeded_and_varied():
    a = [raster.render_word("cat", size=64, rng=np.random.default_rng(s)).tobytes() for s in range(6)]
    b = [raster.render_word("cat", size=64, rng=np.random.default_rng(s)).tobytes() for s in range(6)]
    assert a == b, "same seed, same rendering"
    assert len(set(a)) == 6, "different seeds give fresh renderings"


def test_render_word_uses_training_fonts_only(monkeypatch):
    used = []
    real = raster.load_font

    def spy(name, size):
        used.append(name)
        return real(name, size)

    monkeypatch.setattr(raster, "load_font", spy)
    rng = np.random.default_rng(1)
    for _ in range(40):
        raster.render_word("dog", size=64, rng=rng)
    assert used and not set(used) & set(raster.HELDOUT_FONTS)


@pytest.mark.parametrize("area", [0.04, 0.08, 0.15])
def test_overlay_label_hits_target_cover(area):
    img = _noise()
    out, cover = raster.overlay_label(img, "boat", area_frac=area)
    assert out.size == img.size
    assert abs(cover - area) < 0.25 * area + 0.01
    assert cover == pytest.approx(raster.pixel_cover(img, out))
    assert np.asarray(img).tobytes() == np.asarray(_noise()).tobytes(), "input untouched"


def test_overlay_label_on_white_changes_fewer_pixels():
    white = Image.new("RGB", (96, 96), "white")
    _, cover = raster.overlay_label(white, "boat", area_frac=0.08)
    assert 0 < cover < 0.08, "a white box on white changes only the ink"


def test_overlay_label_positions_and_errors():
    img = _noise()
    top, _ = raster.overlay_label(img, "hat", area_frac=0.05, position="top")
    bottom, _ = raster.overlay_label(img, "hat", area_frac=0.05, position="bottom")
    diff_top = np.any(np.asarray(top) != np.asarray(img), -1)
    diff_bottom = np.any(np.asarray(bottom) != np.asarray(img), -1)
    assert diff_top[:48].sum() > diff_top[48:].sum()
    assert diff_bottom[48:].sum() > diff_bottom[:48].sum()
    with pytest.raises(CoreError, match="valid"):
        raster.overlay_label(img, "hat", area_frac=0.05, position="somewhere")
    with pytest.raises(CoreError):
        raster.overlay_label(img, "hat", area_frac=0)


def test_article_pattern_draws_eight_copies():
    img = _noise(224)
    out, cover = raster.overlay_article_pattern(img, "rifle")
    assert 0.02 < cover < 0.2
    changed = np.any(np.asarray(out) != np.asarray(img), -1)
    h, w = changed.shape
    for fx, fy in raster.ARTICLE_SPOTS:  # ink right after each of the 8 spots
        y, x = int(fy * h), int(fx * w)
        assert changed[y:y + 20, x:x + 40].any()
    again, _ = raster.overlay_article_pattern(img, "rifle")
    assert again.tobytes() == out.tobytes()
