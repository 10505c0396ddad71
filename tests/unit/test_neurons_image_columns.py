"""``neurons --image`` without ``--index`` has no collection std to express activations in: no all-NaN z column."""
from __future__ import annotations

import json

from core.cli import main
from tests.conftest import make_image_folder


def test_neurons_image_without_index_prints_no_nan_z_column(tiny_rn, tmp_path, capsys):
    img = str(make_image_folder(tmp_path / "images", n_per_class=1) / "cat" / "0.png")
    assert main(["neurons", "--model", "tiny-rn/random", "--image", img, "--top", "4"]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header == ["rank", "neuron", "unit", "activation", "y", "x"] and "nan" not in out.lower()
    assert main(["neurons", "--model", "tiny-rn/random", "--image", img, "--top", "4", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert not res["scaled_by_std"] and all("z" not in n for n in res["neurons"])
