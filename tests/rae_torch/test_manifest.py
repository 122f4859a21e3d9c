"""Full-size models built on the meta device hold exactly the manifest's tensors."""

import pytest

torch = pytest.importorskip("torch")

from rae_spec import MODELS, model_parameters  # noqa: E402
from rae_torch import build_model  # noqa: E402


@pytest.mark.parametrize("name", sorted(MODELS))
def test_full_size_module_matches_manifest(name):
    preset = MODELS[name]
    if preset.kind == "stats":
        pytest.skip("stats are not a module")
    with torch.device("meta"):
        module = build_model(preset.config)
    state = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    assert state == model_parameters(preset.config)
