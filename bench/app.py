"""`rae app` measured as a user meets it, with the built-in digits-demo pipeline (no download):

- time to the first image after start: from launching `rae app --no-browser` (a fresh process) to the
  first PNG of a one-image job submitted as soon as the URL is printed;
- a second image with the models warm (same job, another seed);
- preview overhead at k = 5: the same job with previews every 5 steps against none (median of runs);
- the memory the app holds between jobs (the process's RSS once the jobs are done; peak RSS too);
- the gallery listing time for 1,000 images (first listing, which reads every PNG's metadata of a page,
  and a second one served from the on-disk cache).

    python bench/app.py [--backend torch|mlx] [--steps 50] [--runs 5]

Prints one line per figure, all from this run.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path


def request(base: str, token: str, path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method="POST" if data is not None else "GET",
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())


def wait(base: str, token: str, job_id: str) -> dict:
    while True:
        state = request(base, token, f"/api/jobs/{job_id}")
        if state["status"] in ("done", "cancelled", "failed"):
            if state["status"] != "done":
                raise SystemExit(f"job {job_id} {state['status']}: {state['error']}")
            return state
        time.sleep(0.005)


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", default="torch")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--runs", type=int, default=9)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="rae-app-bench-"))
    out = root / "images"
    env = {**os.environ, "RAE_CACHE": str(root / "cache"), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-c", "from rae_apps.cli import main; main()", "app", "--no-browser", "--port", "0",
           "--preset", "digits-demo", "--output-dir", str(out), "--backend", args.backend]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    try:
        url = lines.get(timeout=120).split(" ", 2)[2].strip()
        t_url = time.perf_counter() - t0
        base, token = url.split("/?token=")
        job = {"class": ["3"], "steps": args.steps, "preview_every": 0}

        first = wait(base, token, request(base, token, "/api/jobs", {**job, "seed": [0]})["id"])
        t_first = time.perf_counter() - t0
        assert (out / first["images"][0]).is_file()
        t = time.perf_counter()
        wait(base, token, request(base, token, "/api/jobs", {**job, "seed": [1]})["id"])
        t_second = time.perf_counter() - t

        times: dict[int, list[float]] = {0: [], 5: []}
        shares = []  # in each job with previews: preview seconds / (sampling + decoding seconds)
        for run in range(args.runs):
            for k in (0, 5):
                t = time.perf_counter()
                body = {**job, "seed": [10 + run], "preview_every": k}
                state = wait(base, token, request(base, token, "/api/jobs", body)["id"])
                times[k].append(time.perf_counter() - t)
                if k:
                    s = state["timing"]
                    shares.append(s["previews"] / (s["sampling"] + s["decoding"]))
        plain, previewed = statistics.median(times[0]), statistics.median(times[5])
        time.sleep(0.5)
        held, peak = rss_kb(proc.pid), rss_kb(proc.pid, "VmHWM")

        # the gallery with 1,000 images (copies of one written image, each with its metadata)
        src = out / first["images"][0]
        for i in range(1000 - len(list(out.glob("*.png")))):
            shutil.copy2(src, out / f"copy-{i:04d}.png")
        t = time.perf_counter()
        listing = request(base, token, "/api/images?limit=200")
        t_list_cold = time.perf_counter() - t
        t = time.perf_counter()
        request(base, token, "/api/images?limit=200")
        t_list_warm = time.perf_counter() - t
    finally:
        proc.terminate()
        proc.wait(20)
    steps = args.steps - 1
    print(f"rae app, digits-demo, backend {args.backend}, {steps} steps per image, one image per job "
          f"({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end)")
    print(f"  URL printed after start            {t_url:7.2f} s")
    print(f"  first image after start            {t_first:7.2f} s  (job submitted when the URL appeared)")
    print(f"  second image, models warm          {t_second:7.3f} s")
    print(f"  job without previews (median of {args.runs}) {plain:7.3f} s")
    print(f"  job with previews every 5 steps    {previewed:7.3f} s  ({steps // 5} previews; wall-clock "
          f"{100 * (previewed - plain) / plain:+.1f} %)")
    print(f"  preview overhead at k = 5          {100 * statistics.median(shares):7.1f} %  (median over "
          f"{args.runs} jobs of preview time / sampling + decoding time, measured inside each job)")
    print(f"  memory held between jobs (RSS)     {held / 1024:7.1f} MB  (peak RSS {peak / 1024:.1f} MB)")
    print(f"  gallery, {listing['total']} images: first page of 200 {1000 * t_list_cold:.0f} ms, "
          f"again {1000 * t_list_warm:.0f} ms")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
