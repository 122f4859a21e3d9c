"""Training reads reference YAMLs through rae_spec.reference_yaml: the sampler and guidance spellings
that sampling accepts mean the same for training's sample grids."""

import pytest

pytest.importorskip("torch")

from rae_torch.train import load_config  # noqa: E402

STAGE2 = {
    "stage_1": {"target": "stage1.RAE", "params": {"encoder_cls": "Dinov2withNorm",
                                                    "encoder_config_path": "facebook/dinov2-with-registers-base",
                                                    "decoder_config_path": "configs/decoder/ViTXL"}},
    "stage_2": {"target": "stage2.models.DDT.DiTwDDTHead", "params": {"input_size": 16, "in_channels": 768}},
    "misc": {"latent_size": [768, 16, 16]},
}


@pytest.mark.parametrize("method, expected", [("heun2", "heun"), ("Euler", "euler"), ("rk4", "rk4"),
                                              ("dopri5", "euler")])
def test_sampler_spellings(method, expected):
    data = {**STAGE2, "sampler": {"mode": "ODE", "params": {"sampling_method": method, "num_steps": 9}}}
    cfg = load_config("stage2", data=data)
    assert cfg.sampler.method == expected and cfg.sampler.num_steps == (9 if method != "dopri5" else 50)
    assert cfg.transport.time_dist_type == "uniform"  # the reference's default
    assert cfg.transport.time_dist_shift == pytest.approx(48**0.5)


def test_guidance_as_the_reference_reads_it():
    below = load_config("stage2", data={**STAGE2, "guidance": {"method": "cfg", "scale": 0.5}})
    assert not below.guidance.active  # the reference guides only when scale > 1
    dashed = load_config("stage2", data={**STAGE2, "guidance": {"method": "cfg", "scale": 2.0, "t-min": 0.3},
                                         "training": {"cfg_scale": 3.0}})
    assert (dashed.guidance.method, dashed.guidance.scale, dashed.guidance.t_min) == ("cfg", 3.0, 0.3)
