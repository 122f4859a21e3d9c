"""`rae download`, `rae info`, `rae classes`, and the HF-cache / models-folder store behind them."""

import json
import os
import shutil
from pathlib import Path

import pytest
from huggingface_hub import try_to_load_from_cache
from PIL import Image
from rae_apps.errors import MissingFileError
from rae_apps.hub import PROXY_VARIABLES, Store, hf_cache_dir

from rae_spec.configs import to_dict
from rae_spec.presets import RAE_REPO

from . import tiny

STAT = "stats/dinov2/wReg_base/imagenet1k/stat.pt"


def test_the_test_cache_is_a_real_hf_cache(env):
    """huggingface_hub itself finds every file in the cache the tests build."""
    for repo, files in env.repo_files().items():
        for name, src in files.items():
            found = try_to_load_from_cache(repo, name, cache_dir=env.cache)
            assert isinstance(found, str) and Path(found).read_bytes() == src.read_bytes()
            assert Path(found).resolve().parent.name == "blobs"
    assert (env.cache / f"models--{RAE_REPO.replace('/', '--')}" / "refs" / "main").is_file()


def test_cache_location_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert hf_cache_dir() == tmp_path / "home" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    assert hf_cache_dir() == tmp_path / "hub"
    monkeypatch.delenv("HF_HOME")
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hf_cache_dir() == tmp_path / "xdg" / "huggingface" / "hub"


def test_download_reports_cached_files_with_sizes(rae, env):
    result = rae("download")
    out = result.stdout
    for name in ("DiTDH-XL/stage2_model.pt", "DiTDH-S_ep14/stage2_model.pt", "ViTXL_n08/model.pt", STAT):
        assert name in out
    assert "cached" in out and "downloaded" not in out and f"in the Hugging Face cache {env.cache}" in out
    assert "4 files" in out and "-> " + str(env.cache) in out
    assert "dinov2-with-registers-base" not in out  # sampling never needs the encoder
    assert "dinov2-with-registers-base/model.safetensors" in rae("download", "dinov2-b").stdout
    assert "dinov2-with-registers-base" in rae("download", "--with-encoder").stdout


def test_download_fetches_through_huggingface_hub(rae, env, monkeypatch, tmp_path):
    """A missing file goes through hf_hub_download into the cache (or --models-dir) and is reported."""
    import huggingface_hub

    calls = []

    def fake_download(repo_id, filename, cache_dir=None, local_dir=None, **kw):
        calls.append((repo_id, filename, cache_dir, local_dir))
        if local_dir is not None:
            target = Path(local_dir) / filename
        else:
            snapshot = tiny.hub_cache_put(Path(cache_dir), repo_id, {filename: env.repo_files()[repo_id][filename]})
            target = snapshot / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            shutil.copyfile(env.repo_files()[repo_id][filename], target)
        return str(target)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    monkeypatch.setattr("rae_apps.hub.hub_unreachable", lambda: None)  # as if online
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "fresh"))
    result = rae("download", "stats-dinov2-b-256")
    assert calls == [(RAE_REPO, STAT, tmp_path / "fresh", None)]
    assert "downloading nyu-visionx/RAE-collections/" + STAT in result.stderr
    assert "downloaded" in result.stdout and "1 files" in result.stdout
    assert rae("download", "stats-dinov2-b-256").stdout.startswith("cached")  # now in the cache: no call
    assert len(calls) == 1
    result = rae("download", "stats-dinov2-b-256", "--models-dir", tmp_path / "plain")
    assert calls[-1][3] == tmp_path / "plain" / RAE_REPO
    assert (tmp_path / "plain" / RAE_REPO / STAT).is_file() and "models folder" in result.stdout
    # sampling downloads what is missing, on first use
    rae("sample", "--class", "1", "--seed", "0", "--steps", "3", "-q", "--output", "first.png")
    assert {c[1] for c in calls} >= {"DiTs/Dinov2/wReg_base/ImageNet256/DiTDH-XL/stage2_model.pt"}


def test_download_errors_offline(rae, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    result = rae("download", "dit-dh-xl-256-ag", ok=False)
    assert result.exit_code == 2
    assert "is not in the Hugging Face cache" in result.stderr
    assert "HF_HUB_OFFLINE is set; run `rae download dit-dh-xl-256` while online" in result.stderr
    result = rae("download", "no-such-preset", ok=False)
    assert result.exit_code == 2 and "unknown pipeline preset 'no-such-preset'" in result.stderr


def test_download_without_network_fails_at_once(rae, monkeypatch, tmp_path):
    """No DNS (offline without HF_HUB_OFFLINE): one line naming the file, the reason and the next step, before
    huggingface_hub's retries (which took 23 s and printed 12 warning lines)."""
    import socket

    import huggingface_hub

    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda *a, **k: pytest.fail("tried the network"))
    for name in PROXY_VARIABLES + ("HF_HUB_OFFLINE",):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    result = rae("download", "stats-dinov2-b-256", ok=False)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"error: could not download {RAE_REPO}/{STAT} into the Hugging Face cache")
    assert ("(no network: cannot resolve huggingface.co: Name or service not known). Run `rae download "
            "stats-dinov2-b-256` when online" in result.stderr)


def test_download_config_of_local_files_only(rae, env, tmp_path):
    result = rae("download", "--config", env.yaml())  # every path in it is local
    assert result.stdout.strip() == f"nothing to download: every file {env.root / 'ag.yaml'} names is a local file"


def test_download_config_fetches_the_files_a_yaml_names(rae, env, tmp_path):
    cfg = tiny.sampling_yaml(env.files)
    cfg["stage_2"]["ckpt"] = "models/DiTs/Dinov2/wReg_base/ImageNet256/DiTDH-XL/stage2_model.pt"  # the collection
    cfg["guidance"]["guidance_model"]["ckpt"] = f"hf://{RAE_REPO}/DiTs/Dinov2/wReg_base/ImageNet256/DiTDH-S_ep14/stage2_model.pt"
    path = tiny.write_yaml(tmp_path / "hub.yaml", cfg)
    out = rae("download", "--config", path).stdout
    assert "DiTDH-XL/stage2_model.pt" in out and "DiTDH-S_ep14" in out and str(env.cache) in out


def test_store_models_dir_and_missing_files(env, tmp_path):
    store = Store(env.models_dir)
    assert store.find(RAE_REPO, STAT) == env.models_dir / RAE_REPO / STAT
    assert store.find(RAE_REPO, "nope.pt") is None
    with pytest.raises(MissingFileError, match="nope.pt is not in the models folder"):
        store.get(RAE_REPO, "nope.pt", download=False)
    os.environ["HF_HUB_OFFLINE"] = "1"
    with pytest.raises(MissingFileError, match="HF_HUB_OFFLINE is set"):
        Store(tmp_path).fetch(RAE_REPO, STAT)


def test_info_lists_presets_with_cache_status(rae, env):
    out = rae("info").stdout
    assert "dit-dh-xl-256-ag" in out and "(default)" in out and "downloaded" in out
    assert "dinov2-b" in out and "mae-b" in out and "siglip2-b" in out
    assert "dit-dh-xl-512-ag" in out and "0/4 files" in out  # the 512 px models are not in the test cache


def test_info_of_a_pipeline(rae):
    out = rae("info", "dit-dh-xl-256-ag").stdout
    assert "DiT^DH: hidden [32, 48], depth [2, 1]" in out  # the tiny config from the presets file
    assert "parameters" in out and "float32" in out and "bfloat16" in out and "q4" in out and "peak memory" in out
    assert "DiTDH-XL/stage2_model.pt:" in out and "at " in out and "not downloaded" not in out.split("encoder")[0]
    assert "rae download dit-dh-xl-256-ag" in out


def test_info_of_the_built_in_pipeline(rae):
    out = rae("info", "digits-demo").stdout
    model = next(line.strip() for line in out.splitlines() if "digits-demo/dit/model.safetensors" in line)
    assert model.count("model.safetensors") == 1 and model.endswith("MB")  # a local file: its path once
    assert "reported: 99 % of its samples classified as their digit" in out and "summary.json" not in out
    assert "download: nothing to download" in out and "rae download" not in out


def test_info_without_presets_file_shows_the_released_sizes(rae, monkeypatch, tmp_path):
    monkeypatch.delenv("RAE_PRESETS")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    out = rae("info", "dit-dh-xl-256-ag").stdout
    assert "parameters 838.68 M" in out and "parameters 196.46 M" in out  # DiT^DH-XL and the DiT^DH-S guide
    assert "not downloaded" in out
    assert "size unknown (HF_HUB_OFFLINE)" in rae("info", "dit-dh-xl-256-ag", "--remote").stdout

    import huggingface_hub

    class Entry:
        size = 3_354_000_000

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr("rae_apps.hub.hub_unreachable", lambda: "no network: cannot resolve huggingface.co")
    assert "not downloaded, size unknown (no network)" in rae("info", "dit-dh-xl-256", "--remote").stdout
    monkeypatch.setattr("rae_apps.hub.hub_unreachable", lambda: None)
    monkeypatch.setattr(huggingface_hub.HfApi, "get_paths_info", lambda self, repo, paths: [Entry()])
    assert "not downloaded, 3.35 GB on the hub" in rae("info", "dit-dh-xl-256", "--remote").stdout


def test_info_of_files_folders_and_yaml(rae, env, tmp_path):
    out = rae("info", env.files["dit"]).stdout
    assert "tensors" in out and "matches: dit-dh-xl-256" in out
    out = rae("info", env.files["stats"]).stdout
    assert "matches: stats-dinov2-b-256" in out
    out = rae("info", env.files["encoder"] / "model.safetensors").stdout
    assert "matches: dinov2-b-reg" in out
    out = rae("info", env.yaml("i.yaml")).stdout
    assert "guidance" in out and "autoguidance" in out and "time shift: 2.449490" in out
    from rae_spec.configs import to_json

    folder = tmp_path / "m"
    folder.mkdir()
    shutil.copyfile(env.files["dit"], folder / "model.pt")
    (folder / "config.json").write_text(to_json(tiny.DIT))
    assert "model folder" in rae("info", folder).stdout
    result = rae("info", "dit-dh-xl-265", ok=False)
    assert result.exit_code == 2 and "did you mean" in result.stderr


def test_classes_command(rae):
    assert rae("classes", "207", "360").stdout.splitlines() == [" 207  golden retriever", " 360  otter"]
    out = rae("classes", "retriever").stdout
    assert "207  golden retriever" in out and "208  Labrador retriever" in out
    assert len(rae("classes").stdout.splitlines()) == 1000
    assert rae("classes", "zzzz", ok=False).exit_code == 2


def test_help_has_examples(rae):
    for cmd in ("sample", "reconstruct", "download", "info", "classes"):
        out = rae(cmd, "--help").stdout
        assert "Examples:" in out and f"rae {cmd}" in out
    out = rae("--help").stdout
    for cmd in ("sample", "reconstruct", "download", "info", "classes"):
        assert cmd in out


def test_presets_file_adds_a_pipeline(rae, env, tmp_path):
    presets = json.loads(env.presets.read_text())
    presets["models"]["mine"] = {"kind": "dit", "repo": str(env.files["dit"].parent), "filename": "stage2_model.pt",
                                 "config": to_dict(tiny.DIT)}
    presets["pipelines"]["my-pipeline"] = {"dit": "mine", "decoder": "decoder-dinov2-b-xl-256",
                                           "stats": "stats-dinov2-b-256", "encoder": "dinov2-b-reg",
                                           "encoder_input_size": tiny.RAE.encoder_input_size,
                                           "transport": {"time_dist_shift_dim": tiny.SHIFT_DIM}}
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(presets))
    assert "mine" in rae("info", "--presets", path).stdout
    rae("sample", "--presets", path, "--preset", "my-pipeline", "--class", "2", "--seed", "0", "--steps", "4",
        "-q", "--output", "mine.png")
    rae("sample", "--preset", "dit-dh-xl-256", "--class", "2", "--seed", "0", "--steps", "4", "-q",
        "--output", "theirs.png")
    assert Image.open("mine.png").tobytes() == Image.open("theirs.png").tobytes()  # same weights, local repo
