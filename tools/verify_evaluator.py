"""Check `rae eval` against ADM's own evaluator (TensorFlow) on random-weight Inception graphs.

Not part of CI (it needs TensorFlow). What it does:
1. rebuilds the fixture of tests/evaluation_fixture.py from its seeds: a GraphDef with the 2015 graph's
   architecture, tensor names and ops (random weights), written as classify_image_graph_def.pb, and the
   reference / sample batches;
2. runs openai/guided-diffusion's evaluations/evaluator.py, unchanged, with that graph (it reads the .pb
   from its working folder), for a reference batch without and with precomputed statistics, and dumps
   TensorFlow's activations of the first images through the evaluator's own graph code;
3. runs `rae eval` on the same files (torch, and MLX when installed) and prints the deviation per metric
   and per feature set;
4. with --write, stores TensorFlow's numbers and activations as the fixture the tests check.

Setup, once, outside the repository (TensorFlow is not a dependency of rae-mlx):

    python3 -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu "scipy<1.18" requests tqdm
    # evaluator.py: openai/guided-diffusion/evaluations/evaluator.py, e.g. saved as /tmp/adm/evaluator.py

    .venv/bin/python tools/verify_evaluator.py --tf-python /tmp/tfvenv/bin/python --evaluator /tmp/adm/evaluator.py
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import evaluation_fixture as fixture  # noqa: E402

METRICS = {"Inception Score": "inception_score", "FID": "fid", "sFID": "sfid", "Precision": "precision",
           "Recall": "recall"}
FEATURE_ROWS = 2  # TensorFlow activations of the first rows of each batch, stored for feature-level checks

DUMP = """
import sys, numpy as np
sys.path.insert(0, sys.argv[1])
sys.path.insert(0, sys.argv[5])
from tests.evaluation_fixture import distance_inputs
import evaluator as E
import tensorflow.compat.v1 as tf
tf.disable_eager_execution()
ev = E.Evaluator(tf.Session())
out = {}
for role, path in (("ref", sys.argv[2]), ("samples", sys.argv[3])):
    pool, spatial = ev.read_activations(path)
    out[role + "_pool"], out[role + "_spatial"] = pool, spatial
block = E.DistanceBlock(ev.sess)
for name, (u, v) in distance_inputs().items():
    out["distances_" + name] = block.pairwise_distances(u, v)
np.savez(sys.argv[4], **out)
print("tensorflow", tf.__version__)
"""


def parse(output: str) -> dict[str, float]:
    values = {}
    for line in output.splitlines():
        name, _, value = line.partition(": ")
        if name in METRICS:
            values[METRICS[name]] = float(value)
    if len(values) != len(METRICS):
        raise RuntimeError(f"the evaluator did not print every metric:\n{output}")
    return values


def run_adm(tf_python: str, evaluator: Path, work: Path, ref: Path, samples: Path) -> dict[str, float]:
    result = subprocess.run([tf_python, str(evaluator), str(ref), str(samples)], cwd=work, capture_output=True,
                            text=True, check=True)
    return parse(result.stdout)


def deviation(a: float, b: float) -> str:
    return f"{abs(a - b):.3g} abs, {abs(a - b) / max(abs(b), 1e-12):.3g} rel"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tf-python", required=True, help="python of a venv with tensorflow-cpu and scipy < 1.18")
    parser.add_argument("--evaluator", required=True, type=Path, help="ADM's evaluations/evaluator.py (unchanged)")
    parser.add_argument("--work", type=Path, default=None, help="folder for the files [default: a temporary one]")
    parser.add_argument("--write", action="store_true", help="store TensorFlow's results as the test fixture")
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="rae-verify-"))
    paths = fixture.write_files(work)
    print(f"fixture files in {work}")
    evaluator = args.evaluator.resolve()
    cases = {"ref": paths["ref"], "ref_stats": paths["ref_stats"]}
    expected = {name: run_adm(args.tf_python, evaluator, work, ref, paths["samples"]) for name, ref in cases.items()}
    acts = work / "tf_activations.npz"
    version = subprocess.run([args.tf_python, "-c", DUMP, str(evaluator.parent), str(paths["ref"]),
                              str(paths["samples"]), str(acts), str(ROOT)], cwd=work, capture_output=True, text=True,
                             check=True).stdout.split()[-1]
    tf_acts = dict(np.load(acts))
    print(f"ADM's evaluator (TensorFlow {version}):")
    for name, values in expected.items():
        print(f"  {name}: {values}")

    from rae_apps.evaluate import activations, make_extractor, read_stats
    from rae_apps.inception_weights import load_inception

    from rae_spec.evaluator import Features, distance_block, evaluate

    for name, (u, v) in fixture.distance_inputs().items():
        ours = distance_block(Features(u), (0, len(u)), Features(v), (0, len(v)))
        tf = tf_acts[f"distances_{name}"]
        print(f"distances {name}: {(ours == tf).mean():.5f} identical, max |diff| {np.abs(ours - tf).max():.3g}")

    backends = ["torch"] + (["mlx"] if importlib.util.find_spec("mlx") is not None else [])
    weights = load_inception(paths["pb"])
    for backend in backends:
        extractor, _ = make_extractor(backend, weights)
        acts = {}
        for role in ("ref", "samples"):
            acts[role] = activations(paths[role], extractor, weights, 64, quiet=True, use_cache=False)
            for kind, ours in zip(("pool", "spatial"), acts[role], strict=True):
                tf = tf_acts[f"{role}_{kind}"]
                err = np.abs(ours - tf).max() / np.abs(tf).max()
                print(f"{backend} {role} {kind}: max |ours - TF| / max |TF| = {err:.3g}")
        for name, ref in cases.items():
            port = evaluate(*acts["ref"], *acts["samples"], weights.classifier, read_stats(ref)).as_dict()
            print(f"rae eval --backend {backend}, {name}:")
            for key, value in port.items():
                print(f"  {key}: {value} (TensorFlow {expected[name][key]}; {deviation(value, expected[name][key])})")

    if args.write:
        fixture.EXPECTED.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "what": "ADM's evaluator (TensorFlow) on tests/evaluation_fixture.py's files; written by "
                    "tools/verify_evaluator.py",
            "tensorflow": version,
            "weights_seed": fixture.WEIGHTS_SEED,
            "scale_after_normalization": fixture.SCALE_AFTER_NORMALIZATION,
            "ref": fixture.REF, "samples": fixture.SAMPLES, "stats_seed": fixture.STATS_SEED,
            "results": expected,
            "feature_rows": FEATURE_ROWS,
        }
        fixture.EXPECTED.write_text(json.dumps(record, indent=2) + "\n")
        np.savez(fixture.EXPECTED.with_name("tf_features.npz"),
                 **{k: v[:FEATURE_ROWS] if k.endswith(("pool", "spatial")) else v for k, v in tf_acts.items()})
        print(f"wrote {fixture.EXPECTED} and tf_features.npz")


if __name__ == "__main__":
    main()
