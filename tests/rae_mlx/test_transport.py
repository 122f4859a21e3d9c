"""The one stage-2 loss in both backends: the same draws (noise, uniforms, label dropout) and weights give
the same per-sample loss, through rae_spec's time transform."""

import numpy as np
import pytest

from rae_mlx.transport import Transport as MLXTransport
from rae_spec import DiTDHConfig, TransportConfig
from tests.twins import max_rel, mlx_twin, random_torch_model


@pytest.mark.parametrize("time_dist", ["uniform", "logit-normal_0_1"])
def test_loss_matches_torch_with_injected_draws_and_forced_label_drops(time_dist):
    torch = pytest.importorskip("torch")
    from rae_torch.transport import Transport as TorchTransport

    config = DiTDHConfig(input_size=4, in_channels=8, num_classes=5, hidden_size=(32, 48), depth=(1, 1),
                         num_heads=(2, 3))
    tmodel = random_torch_model(config)
    mmodel = mlx_twin(tmodel, config)
    rng = np.random.default_rng(0)
    data, noise = (rng.standard_normal((4, 8, 4, 4), dtype=np.float32) for _ in range(2))
    U, y, drop = rng.random(4), np.array([0, 1, 2, 3]), np.array([1, 0, 0, 1])
    transport = TransportConfig(time_dist_type=time_dist, time_dist_shift_dim=128, time_dist_shift_base=32)
    with torch.no_grad():
        want = TorchTransport(transport).loss(tmodel, torch.from_numpy(data), torch.from_numpy(y),
                                              noise=torch.from_numpy(noise), uniforms=U,
                                              force_drop_ids=torch.from_numpy(drop))
    got = MLXTransport(transport).loss(mmodel, data, y, noise=noise, uniforms=U, force_drop_ids=drop)
    assert np.array_equal(np.array(got["t"]), want["t"].numpy())  # one time transform (rae_spec)
    assert max_rel(np.array(got["loss"]), want["loss"].numpy()) < 1e-5
    undropped = MLXTransport(transport).loss(mmodel, data, y, noise=noise, uniforms=U)["loss"]
    assert np.abs(np.array(undropped) - np.array(got["loss"]))[[0, 3]].min() > 1e-4  # drops reach the embedder
