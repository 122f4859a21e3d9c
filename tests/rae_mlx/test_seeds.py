"""One seed, one sample, on both backends: the initial noise and the SDE's per-step noise come from
np.random.default_rng(seed) (rae_spec.noise), so torch and MLX agree up to float error."""

import mlx.core as mx
import numpy as np
import pytest

from rae_mlx.sampling import Sampler as MLXSampler
from rae_mlx.sampling import guided_velocity as mlx_guided
from rae_spec import DiTDHConfig, GuidanceConfig, SamplerConfig
from rae_spec.noise import initial_noise
from tests.twins import max_rel, mlx_twin, random_torch_model

torch = pytest.importorskip("torch")

from rae_torch.sampling import Sampler as TorchSampler  # noqa: E402
from rae_torch.sampling import guided_velocity as torch_guided  # noqa: E402

CONFIG = DiTDHConfig(input_size=4, in_channels=8, hidden_size=(32, 48), depth=(2, 1), num_heads=(2, 3), num_classes=5)


@pytest.mark.parametrize("sampler", [SamplerConfig(num_steps=12), SamplerConfig(method="heun", num_steps=8),
                                     SamplerConfig(mode="sde", num_steps=12)], ids=["euler", "heun", "sde"])
def test_same_seed_same_latents(sampler):
    tmodel = random_torch_model(CONFIG, std=0.1)
    mmodel = mlx_twin(tmodel, CONFIG)
    labels = np.array([1, 4, 0])
    guidance = GuidanceConfig("cfg", 2.0, 0.0, 0.8)
    seed, n = 1234, len(labels)

    rng = np.random.default_rng(seed)
    x0 = torch.from_numpy(initial_noise(rng, n, CONFIG.latent_shape))
    with torch.no_grad():
        want = TorchSampler(sampler, 2.0).sample(x0, torch_guided(tmodel, torch.from_numpy(labels), guidance), rng=rng)

    rng = np.random.default_rng(seed)
    x0 = mx.array(initial_noise(rng, n, CONFIG.latent_shape))
    got = MLXSampler(sampler, 2.0).sample(x0, mlx_guided(mmodel, mx.array(labels), guidance), rng=rng)

    assert np.asarray(got).shape == (n, *CONFIG.latent_shape)
    assert max_rel(got, want.numpy()) < 1e-5
    other = MLXSampler(sampler, 2.0).sample(mx.array(initial_noise(seed + 1, n, CONFIG.latent_shape)),
                                            mlx_guided(mmodel, mx.array(labels), guidance),
                                            rng=np.random.default_rng(seed + 1))
    assert max_rel(other, want.numpy()) > 1e-2  # a different seed is a different sample


def test_initial_noise_is_the_documented_draw():
    want = np.random.default_rng(7).standard_normal((2, 8, 4, 4), dtype=np.float32)
    assert np.array_equal(initial_noise(7, 2, (8, 4, 4)), want)


def test_trained_demo_pipeline_gives_the_same_images_on_both_backends():
    """The digits-demo pipeline (trained by rae_torch.train, exported as a folder): one seed, same images."""
    from pathlib import Path

    import rae_torch
    from rae_mlx.pipeline import generate_from_folder
    from rae_spec.configs import PipelineConfig

    folder = Path(__file__).resolve().parents[2] / "rae_spec" / "presets_data" / "digits-demo"
    if not (folder / "pipeline.json").is_file():
        pytest.skip("no digits-demo preset in this checkout")
    spec = PipelineConfig.load(folder)
    sampler = SamplerConfig(num_steps=10)
    labels, seed = [3, 7], 11
    out = generate_from_folder(folder, labels, seed=seed, sampler=sampler)

    dit, decoder = rae_torch.load_model(folder / spec.dit), rae_torch.load_model(folder / spec.decoder)
    mean, var = rae_torch.load_stats(folder / spec.stats)
    rng = np.random.default_rng(seed)
    x0 = torch.from_numpy(initial_noise(rng, len(labels), dit.config.latent_shape))
    with torch.no_grad():
        z = TorchSampler(sampler, spec.transport.time_dist_shift).sample(
            x0, torch_guided(dit, torch.tensor(labels), spec.guidance), rng=rng)
        from rae_torch.rae import denormalize, latent_to_tokens

        images = decoder.unpatchify(decoder(latent_to_tokens(denormalize(z, mean, var, 1e-5))))
        images = images * torch.tensor((0.229, 0.224, 0.225)).view(1, 3, 1, 1) + torch.tensor(
            (0.485, 0.456, 0.406)).view(1, 3, 1, 1)
    assert max_rel(out.latents, z.numpy()) < 1e-5
    assert np.abs(np.asarray(out.images) - images.numpy()).max() < 1e-4
