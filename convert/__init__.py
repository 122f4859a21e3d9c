"""rae_convert (the `convert/` folder): checkpoints between the official files, torch and MLX.

Reads official files without torch (`.pt` through an allow-list unpickler, HF safetensors folders,
diffusers AutoencoderRAE folders), checks every tensor against rae_spec's manifest through one
declarative layout table, and writes model folders (config.json + model.safetensors with provenance)
atomically, in torch or MLX layout. `plan` shows what would happen, `convert_file` does it, `verify`
runs both backends on the result.
"""

__version__ = "0.1.0"
