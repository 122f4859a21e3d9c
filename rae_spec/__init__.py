"""rae_spec: the backend-free description of RAE and DiT^DH (configs, presets, parameter manifest,
time schedule, resampling tables). Imports neither torch nor mlx."""

from .configs import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ConfigError,
    DecoderConfig,
    DiTDHConfig,
    EncoderConfig,
    GuidanceConfig,
    LightningDiTConfig,
    PipelineConfig,
    RAEConfig,
    SamplerConfig,
    StatsConfig,
    TransportConfig,
    from_dict,
    from_json,
    to_dict,
    to_json,
    vit_decoder,
)
from .parameters import (
    expected_parameters,
    model_parameters,
    optional_parameters,
    parameter_count,
    unused_parameters,
)
from .presets import AUTOENCODERS, DEFAULT_PIPELINE, MODELS, PIPELINES, get_model, get_pipeline
from .schedule import sampling_grid, shift_factor, shift_time, time_from_uniform

__version__ = "0.1.0"

__all__ = [
    "AUTOENCODERS", "DEFAULT_PIPELINE", "IMAGENET_MEAN", "IMAGENET_STD", "MODELS", "PIPELINES", "ConfigError",
    "DecoderConfig", "DiTDHConfig", "EncoderConfig", "GuidanceConfig", "LightningDiTConfig", "PipelineConfig",
    "RAEConfig", "SamplerConfig", "StatsConfig", "TransportConfig", "expected_parameters", "from_dict", "from_json",
    "get_model", "get_pipeline", "model_parameters", "optional_parameters", "parameter_count", "sampling_grid",
    "shift_factor", "shift_time", "time_from_uniform", "to_dict", "to_json", "unused_parameters", "vit_decoder",
]
