"""The models page: every pipeline preset with its files, sizes and cache status, its published settings
and classes (the generate form's defaults), and downloads with progress.

Nothing here touches the network until the user asks for a download. Offline (HF_HUB_OFFLINE) a
download fails at once with the `rae download` command to run elsewhere. `digits-demo` ships inside
the package, so the app always has one pipeline that works with no download at all.
"""

from __future__ import annotations

import threading
from typing import Any

from rae_spec.configs import to_dict
from rae_spec.memory import Precision, largest_batch
from rae_spec.parameters import parameter_count
from rae_spec.presets import local_path

from ..classes import vocabulary
from ..download import preset_files
from ..estimate import TimingStore, estimate_memory, work_batches
from ..hub import Store, hf_offline, is_local_repo
from ..job import SAMPLER_CHOICES, SampleJob, sampler_name
from ..machine import HEADROOM, MAX_AUTO_BATCH, available_memory, device_for
from ..pipeline_folder import is_pipeline_folder, pipeline_from_folder
from ..registry import Registry
from .events import EventBus


class Catalog:
    def __init__(self, registry: Registry, store: Store, events: EventBus, timing: TimingStore, backend: str):
        self.registry, self.store, self.events, self.timing, self.backend = registry, store, events, timing, backend
        self.downloads: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()

    # ------------------------------------------------------------------------------------------ listing

    def files(self, name: str) -> list[dict[str, Any]]:
        out = []
        for model, repo, filename in preset_files(self.registry, name):
            found = self.store.find(repo, filename)
            out.append({"model": model, "repo": repo, "filename": filename, "cached": found is not None,
                        "bytes": found.stat().st_size if found is not None else None,
                        "local": is_local_repo(repo)})
        return out

    def presets(self) -> dict[str, Any]:
        """Every pipeline preset (what the app samples) and every autoencoder preset (what `rae reconstruct
        --autoencoder` and training's encoder / decoder use), with files and cache status."""
        pipelines = [{**self._entry(name, p.sampling_models(), p.description), "reported": p.reported,
                      "default": name == self.registry.default_pipeline}
                     for name, p in self.registry.pipelines.items()]
        autoencoders = [self._entry(name, [m for m in (a.encoder, a.decoder, a.stats) if m], a.description)
                        for name, a in self.registry.autoencoders.items()]
        return {"presets": pipelines, "autoencoders": autoencoders, "offline": hf_offline(),
                "store": self.store.location}

    def _entry(self, name: str, models, description: str) -> dict[str, Any]:
        files = self.files(name)
        params = sum(parameter_count(self.registry.model(m).config) for m in models
                     if self.registry.model(m).kind != "stats")
        return {"name": name, "description": description, "reported": None, "default": False, "files": files,
                "ready": all(f["cached"] for f in files), "builtin": all(f["local"] for f in files),
                "bytes": sum(f["bytes"] or 0 for f in files), "parameters": params,
                "download": self.downloads.get(name)}

    def preset(self, name: str) -> dict[str, Any]:
        """The generate form's defaults and class list for a pipeline preset."""
        p = self.registry.pipeline(name)
        names = None
        folder = local_path(p)
        if folder is not None and is_pipeline_folder(folder):
            names = pipeline_from_folder(folder, self.registry).class_names
        dit = self.registry.model(p.dit).config
        vocab = vocabulary(dit.num_classes, [(n,) for n in names] if names else None)
        classes = [[i, *(vocab.names[i] if vocab.names else [str(i)])] for i in range(dit.num_classes)]
        g = p.guidance
        return {"name": name, "description": p.description, "num_classes": dit.num_classes, "classes": classes,
                "has_names": vocab.names is not None, "image_size": self.registry.model(p.decoder).config.image_size,
                "defaults": {"steps": p.sampler.num_steps, "sampler": sampler_name(p.sampler),
                             "guidance": g.method, "scale": g.scale, "interval": [g.t_min, g.t_max]},
                "guide": p.guide is not None, "cfg": dit.null_label is not None,
                "samplers": list(SAMPLER_CHOICES), "sampler_config": to_dict(p.sampler)}

    # ------------------------------------------------------------------------------------------ estimates

    def estimate(self, job: SampleJob, low_memory: bool) -> dict[str, Any]:
        """Peak memory and time before running a job (time only once a job of the same kind has run here)."""
        name = job.preset or self.registry.default_pipeline
        p = self.registry.pipeline(name)
        model = self.registry.model
        guidance = p.guidance
        if job.guidance is not None or job.scale is not None:
            method = job.guidance or guidance.method
            scale = job.scale if job.scale is not None else guidance.scale
            guidance = type(guidance)(method, scale if method != "none" else 1.0)
        rows = len(job.classes) * job.num_images * len(job.seeds)
        per_seed = len(job.classes) * job.num_images
        if job.batch_size is None:  # the batch the worker will choose for the memory it can see
            memory = available_memory(self.backend, device_for(self.backend))
            fits = memory.available * HEADROOM if memory.available else float("inf")
            batch = largest_batch(fits, model(p.dit).config, model(p.decoder).config,
                                  model(p.guide).config if p.guide and guidance.active
                                  and guidance.method == "autoguidance" else None,
                                  Precision(job.dtype, job.quantize), low_memory, min(MAX_AUTO_BATCH, per_seed),
                                  backend=self.backend, cfg=guidance.active and guidance.method == "cfg")
        else:
            batch = min(job.batch_size, per_seed)
        memory = estimate_memory(model(p.dit).config, model(p.decoder).config,
                                 model(p.guide).config if p.guide else None, guidance, batch_size=batch,
                                 dtype=job.dtype, quantize=job.quantize, low_memory=low_memory,
                                 backend=self.backend)
        steps = (job.steps or p.sampler.num_steps) - 1
        timing = self.timing.get(TimingStore.key(name, self.backend, job.dtype, job.quantize))
        batches = work_batches(per_seed, len(job.seeds), batch)
        seconds = timing.seconds(batches, steps) if timing is not None else None
        return {"memory_bytes": memory, "seconds": seconds, "images": rows, "steps": steps, "batch_size": batch,
                "calibrated": timing is not None}

    # ------------------------------------------------------------------------------------------ downloads

    def download(self, name: str) -> dict[str, Any]:
        """Start fetching a preset's missing files in a thread; progress and the end arrive as events."""
        files = [f for f in self.files(name) if not f["cached"]]
        with self.lock:
            running = self.downloads.get(name)
            if running is not None and running["status"] == "running":
                return running
            state = {"name": name, "status": "running", "done": 0, "total": None, "file": None, "error": None}
            self.downloads[name] = state
        if hf_offline():
            self._end(state, "failed", f"offline (HF_HUB_OFFLINE is set): run `rae download {name}` on a machine "
                                       "with internet, or unset HF_HUB_OFFLINE")
            return state
        threading.Thread(target=self._fetch, args=(state, files), name=f"download-{name}", daemon=True).start()
        return state

    def _end(self, state: dict[str, Any], status: str, error: str | None = None) -> None:
        state["status"], state["error"] = status, error
        self.events.publish("download", **state)

    def _fetch(self, state: dict[str, Any], files: list[dict[str, Any]]) -> None:
        from ..errors import one_line

        events = self.events

        class Progress:  # the tqdm that huggingface_hub drives, reporting to the page
            def __init__(self, *args, total=None, initial=0, **kwargs):
                self.total, self.n = total, initial
                self.last = -1.0

            def update(self, n=1):
                self.n += n or 0
                fraction = self.n / self.total if self.total else 0.0
                if fraction - self.last >= 0.01 or self.n == self.total:
                    self.last = fraction
                    state.update(done=self.n, total=self.total)
                    events.publish("download", **state)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def close(self):
                pass

            def set_description(self, *args, **kwargs):
                pass

            def refresh(self, *args, **kwargs):
                pass

        try:
            for f in files:
                state.update(file=f"{f['repo']}/{f['filename']}", done=0, total=None)
                events.publish("download", **state)
                self.store.fetch(f["repo"], f["filename"], hint=f"run `rae download {state['name']}`",
                                 tqdm_class=Progress)
            self._end(state, "done")
        except Exception as e:  # noqa: BLE001 - every failure reaches the page as one line
            self._end(state, "failed", one_line(e))
