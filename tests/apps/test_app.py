"""`rae app` without a browser: the API's refusals (every item of the issue's security list), the FIFO
queue, cancel between steps, worker errors as events with the CLI's message, the gallery, the models
page, estimates, and an API job giving `rae sample`'s pixels. The real worker and the built-in
digits-demo pipeline run underneath (torch, tiny)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("starlette")
pytest.importorskip("httpx")

from click.testing import CliRunner  # noqa: E402
from PIL import Image, PngImagePlugin  # noqa: E402
from rae_apps.app.events import EventBus  # noqa: E402
from rae_apps.app.server import App, build  # noqa: E402
from rae_apps.app.worker import Settings, Worker  # noqa: E402
from rae_apps.hub import Store  # noqa: E402
from rae_apps.job import SampleJob  # noqa: E402
from rae_apps.registry import load_registry  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

PORT = 48123
BASE = f"http://127.0.0.1:{PORT}"
TOKEN = "t0ken-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Served:
    def __init__(self, client: TestClient, worker: Worker, events: EventBus, out: Path):
        self.client, self.worker, self.events, self.out = client, worker, events, out

    def get(self, path, **kw):
        return self.client.get(path, headers={**AUTH, **kw.pop("headers", {})}, **kw)

    def post(self, path, body=None, **kw):
        return self.client.post(path, json=body if body is not None else {}, headers={**AUTH, **kw.pop("headers", {})},
                                **kw)

    def job(self, body) -> str:
        r = self.post("/api/jobs", {"preset": "digits-demo", "steps": 6, "preview_every": 0, **body})
        assert r.status_code == 202, r.text
        return r.json()["id"]

    def wait(self, job_id, timeout=60.0) -> dict:
        end = time.time() + timeout
        while time.time() < end:
            state = self.get(f"/api/jobs/{job_id}").json()
            if state["status"] in ("done", "cancelled", "failed"):
                return state
            time.sleep(0.02)
        raise AssertionError(f"job {job_id} did not finish: {state}")


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("RAE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("RAE_PRESETS", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # save-copy writes to ~/Downloads
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    (tmp_path / "home").mkdir()
    out = tmp_path / "images"
    out.mkdir()
    events = EventBus()
    worker = Worker(Settings(load_registry(None), Store(None), out, "torch"), events)
    worker.start()
    asgi = build(App(worker, events, TOKEN, "digits-demo", "float32", None, preview_every=2), [PORT])
    with TestClient(asgi, base_url=BASE) as client:
        yield Served(client, worker, events, out)
    worker.stop()


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


# ---------------------------------------------------------------------------------------------- refusals


def test_token_required_everywhere_but_the_static_shell(app):
    c = app.client
    for path in ("/api/config", "/api/jobs", "/api/images", "/api/presets", "/api/events", "/api/images/x.png"):
        assert c.get(path).status_code == 401, path
        assert c.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401, path
    assert c.post("/api/jobs", json={"class": [1]}).status_code == 401
    assert c.get("/").status_code == 200 and c.get("/static/app.js").status_code == 200
    assert c.get("/api/config", headers=AUTH).status_code == 200
    r = c.get(f"/?token={TOKEN}", follow_redirects=False)  # the page's URL: the token becomes a cookie
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and f"rae_token={TOKEN.lower()}" in cookie
    for value, status in ((TOKEN, 200), ("nope", 401)):
        fresh = TestClient(c.app, base_url=BASE, cookies={"rae_token": value})
        assert fresh.get("/api/config").status_code == status
    assert c.get("/?token=wrong", follow_redirects=False).status_code == 200  # the shell, no cookie
    assert "set-cookie" not in c.get("/?token=wrong", follow_redirects=False).headers


@pytest.mark.parametrize("host", ["evil.example", f"evil.example:{PORT}", "127.0.0.1:1", "localhost", "",
                                  f"127.0.0.1.nip.io:{PORT}", f"10.0.0.1:{PORT}"])
def test_host_header_must_be_our_loopback_address(app, host):
    r = app.client.get("/api/config", headers={**AUTH, "Host": host})
    assert r.status_code == 421, host
    assert app.client.get("/", headers={"Host": host}).status_code == 421  # DNS rebinding gets no page either


@pytest.mark.parametrize("host", [f"127.0.0.1:{PORT}", f"localhost:{PORT}", f"[::1]:{PORT}"])
def test_loopback_names_are_accepted(app, host):
    assert app.client.get("/api/config", headers={**AUTH, "Host": host}).status_code == 200


@pytest.mark.parametrize("headers", [{"Origin": "null"}, {"Origin": "http://evil.example"},
                                     {"Origin": f"http://evil.example:{PORT}"}, {"Sec-Fetch-Site": "cross-site"}])
def test_cross_origin_and_null_origin_are_refused(app, headers):
    assert app.get("/api/config", headers=headers).status_code == 403
    r = app.post("/api/jobs", {"class": [1]}, headers=headers)
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
    assert app.get("/api/config", headers={"Origin": BASE}).status_code == 200  # our own page


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                                          None])
def test_only_json_bodies(app, content_type):
    headers = {**AUTH, **({"Content-Type": content_type} if content_type else {})}
    r = app.client.post("/api/jobs", content=b'{"class": [1]}', headers=headers)
    assert r.status_code == 415, r.text
    assert app.client.post("/api/jobs/x/cancel", headers=headers).status_code == 415
    big = app.client.post("/api/jobs", content=b"{" + b" " * 70_000 + b"}", headers={**AUTH, "Content-Type":
                                                                                       "application/json"})
    assert big.status_code == 413


def test_image_names_are_checked_against_the_output_folder(app, tmp_path):
    outside = tmp_path / "secret.png"
    Image.new("RGB", (4, 4)).save(outside)
    (app.out / "link.png").symlink_to(outside)
    (app.out / ".hidden.png").write_bytes(outside.read_bytes())
    (app.out / "notes.txt").write_text("x")
    for name in ("..%2Fsecret.png", "%2E%2E%2Fsecret.png", "link.png", ".hidden.png", "notes.txt",
                 f"{outside}".replace("/", "%2F"), "missing.png", "a%00.png"):
        for suffix in ("", "/thumbnail", "/metadata", "/job"):
            assert app.get(f"/api/images/{name}{suffix}").status_code == 404, (name, suffix)
        assert app.client.delete(f"/api/images/{name}", headers=AUTH).status_code == 404
    assert outside.exists() and (app.out / "link.png").is_symlink()
    assert [i["name"] for i in app.get("/api/images").json()["items"]] == []  # symlinks and dot files never list


def test_every_response_carries_the_security_headers(app):
    for r in (app.client.get("/"), app.client.get("/static/app.css"), app.client.get("/api/config"),
              app.get("/api/config"), app.client.get("/api/config", headers={"Host": "evil.example"})):
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert r.headers["x-content-type-options"] == "nosniff"
    html = app.client.get("/").text
    assert "<script src=\"/static/app.js\"" in html and "<script>" not in html and "style=" not in html


def test_loopback_by_default_another_host_needs_the_flag_and_warns(tmp_path, monkeypatch):
    import uvicorn
    from rae_apps.cli import cli

    monkeypatch.setenv("RAE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: sockets[0].close())
    runner = CliRunner()
    base = ["app", "--no-browser", "--preset", "digits-demo", "--output-dir", str(tmp_path / "o"),
            "--backend", "torch"]
    r = runner.invoke(cli, base, catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    line = r.stdout.strip().splitlines()[0]
    assert line.startswith("rae app: http://127.0.0.1:") and "/?token=" in line and "warning" not in r.stderr
    assert f"images: {tmp_path / 'o'}" in r.stderr
    r = runner.invoke(cli, [*base, "--host", "0.0.0.0"], catch_exceptions=False)
    assert r.exit_code == 0 and "warning: rae app listens on 0.0.0.0, reachable from other machines (as http://" \
        in r.stderr
    assert r.stdout.startswith("rae app: http://127.0.0.1:")  # an address a browser can open
    r = runner.invoke(cli, [*base, "--window"])
    if __import__("sys").platform != "darwin":
        assert r.exit_code == 2 and "--window opens a native macOS window" in r.stderr


def test_all_addresses_answer_to_this_machines_names_only(app):
    """--host 0.0.0.0: other machines reach it by this machine's name or address (they were refused with 421);
    any other Host header still is."""
    import socket

    from rae_apps.app.cli import answers_to

    assert answers_to("10.1.2.3") == {"10.1.2.3"}
    names = answers_to("0.0.0.0")
    assert socket.gethostname() in names and not any(n in names for n in ("127.0.0.1", "localhost", "0.0.0.0"))
    guarded = build(App(app.worker, app.events, TOKEN, "digits-demo", "float32", None), [PORT], names)
    with TestClient(guarded, base_url=BASE) as client:
        for name, status in ((socket.gethostname(), 200), ("127.0.0.1", 200), ("evil.example", 421)):
            assert client.get("/api/config", headers={**AUTH, "host": f"{name}:{PORT}"}).status_code == status


# ---------------------------------------------------------------------------------------------- jobs


def test_api_job_gives_rae_sample_pixels_and_metadata(app, tmp_path):
    from rae_apps.cli import cli
    from rae_apps.metadata import read_record

    state = app.wait(app.job({"class": ["3", 8], "seed": [5], "guidance": "cfg", "scale": 3.0}))
    assert state["status"] == "done" and state["step"] == state["steps"] == 5 and len(state["images"]) == 2
    r = CliRunner().invoke(cli, ["sample", "--preset", "digits-demo", "--class", "3", "--class", "8", "--seed", "5",
                                 "--steps", "6", "--scale", "3", "-q", "--backend", "torch", "--output",
                                 str(tmp_path / "cli-{index}.png")], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    for i, name in enumerate(state["images"]):
        served = app.get(f"/api/images/{name}")
        assert served.headers["content-type"] == "image/png"
        (tmp_path / "served.png").write_bytes(served.content)
        assert np.array_equal(pixels(tmp_path / "served.png"), pixels(tmp_path / f"cli-{i}.png"))
        a, b = read_record(tmp_path / "served.png"), read_record(tmp_path / f"cli-{i}.png")
        assert {k: v for k, v in a.items() if k != "source"} == {k: v for k, v in b.items() if k != "source"}


def test_fifo_queue_cancel_between_steps_and_the_next_job_runs(app):
    seen = []
    original = app.worker._run
    app.worker._run = lambda state: (seen.append(state.id), original(state))[1]
    long = app.job({"class": [1], "seed": [0], "steps": 10_000})
    queued = [app.job({"class": [c], "seed": [c]}) for c in (2, 3)]
    dropped = app.job({"class": [4], "seed": [4]})
    assert app.post(f"/api/jobs/{dropped}/cancel").json()["status"] == "cancelled"  # never runs
    while app.get(f"/api/jobs/{long}").json()["step"] < 3:
        time.sleep(0.01)
    assert app.post(f"/api/jobs/{long}/cancel").status_code == 200
    state = app.wait(long)
    assert state["status"] == "cancelled" and 3 <= state["step"] < 5000 and state["images"] == []
    for job_id in queued:
        assert app.wait(job_id)["status"] == "done"
    assert seen == [long, *queued]  # first in, first out; the cancelled one was skipped
    assert app.get("/api/jobs/nope").status_code == 404 and app.post("/api/jobs/nope/cancel").status_code == 404
    assert app.worker.status()["loaded"] == ["decoder", "dit"]  # the models stay warm between jobs


def test_worker_errors_become_failed_jobs_with_the_cli_message_and_the_worker_lives(app, monkeypatch, tmp_path):
    from rae_apps.cli import cli

    cli_run = CliRunner().invoke(cli, ["sample", "--preset", "digits-demo", "--class", "zebra", "--seed", "1"])
    assert cli_run.exit_code == 2
    cli_line = cli_run.stderr.strip().splitlines()[-1]
    r = app.post("/api/jobs", {"class": ["zebra"], "seed": [1]})  # refused at once, with the CLI's line
    assert r.status_code == 400 and f"error: {r.json()['error']}" == cli_line
    # what the worker finds (a file gone between the request and the run) fails the job with the same line
    state = app.wait(app.worker.submit(SampleJob(("zebra",), (1,), preset="digits-demo", steps=6)).id)
    assert state["status"] == "failed" and f"error: {state['error']}" == cli_line

    assert app.wait(app.job({"class": [1], "seed": [1]}))["status"] == "done"
    engine = app.worker.engine

    def broken(latents):
        raise RuntimeError("decoder exploded")

    monkeypatch.setattr(engine, "decode", broken)
    state = app.wait(app.job({"class": [1], "seed": [1]}))
    assert state["status"] == "failed" and state["error"] == "unexpected RuntimeError: decoder exploded"
    monkeypatch.undo()
    assert app.wait(app.job({"class": [1], "seed": [1]}))["status"] == "done" and app.worker.thread.is_alive()
    r = app.post("/api/jobs", {"class": [1], "steps": 1})
    assert r.status_code == 400 and r.json()["error"].startswith("--steps must be a whole number from 2 to")
    assert app.post("/api/jobs", {"class": [1], "preset": "digits-dem"}).status_code == 400
    assert "did you mean" in app.post("/api/jobs", {"class": [1], "preset": "digits-dem"}).json()["error"]


@pytest.mark.parametrize("body, message", [
    ({"class": [12]}, "class 12 is out of range: this model has classes 0-9"),
    ({"class": ["golden retriever"]}, "unknown class 'golden retriever'"),
    ({"class": [3], "guidance": "autoguidance"}, "autoguidance needs a guidance model"),
    ({"class": [3], "quantize": 4}, "--quantize works with the MLX backend only"),
    ({"class": [3], "preset": "dit-dh-xl-256"}, "is not in the Hugging Face cache"),
])
def test_a_job_that_would_fail_in_the_queue_is_refused_at_once(app, body, message):
    """Found before queueing (behind a long job it would fail minutes later), also by the estimate."""
    r = app.post("/api/jobs", {"preset": "digits-demo", "seed": [1], **body})
    assert r.status_code == 400 and message in r.json()["error"], r.text
    assert app.get("/api/jobs").json()["jobs"] == []
    r = app.post("/api/estimate", {"preset": "digits-demo", "seed": [1], **body})
    if "preset" in body:  # not downloaded yet: the estimate needs only the configs
        assert r.status_code == 200 and r.json()["memory_bytes"] > 1e9
    else:
        assert r.status_code == 400 and message in r.json()["error"], r.text


def test_events_stream_progress_previews_and_done():
    bus = EventBus()
    got = []

    async def read():
        stream = bus.stream()
        assert (await stream.__anext__()).startswith("retry:")
        threading.Thread(target=lambda: [bus.publish("progress", step=i) for i in range(3)] + [bus.close()]).start()
        async for chunk in stream:
            got.append(chunk)

    asyncio.run(read())
    assert [json.loads(c.split("data: ")[1]) for c in got] == [{"step": 0}, {"step": 1}, {"step": 2}]
    assert all(c.startswith("id: ") and "\nevent: progress\n" in c for c in got)


def test_progress_says_which_work_batch_runs(app, monkeypatch):
    """Steps count over all work batches (2 seeds x 5 steps = 10): each progress event says which batch runs."""
    seen = []
    publish = app.events.publish
    monkeypatch.setattr(app.events, "publish", lambda kind, **d: (seen.append((kind, d)), publish(kind, **d))[1])
    app.wait(app.job({"class": [1], "seed": [1, 2]}))
    progress = [d for kind, d in seen if kind == "progress"]
    assert {(d["batch"], d["batches"]) for d in progress} == {(1, 2), (2, 2)} and progress[-1]["steps"] == 10


def test_previews_decode_x0_and_never_change_the_image(app):
    events = []
    original = app.events.publish
    app.events.publish = lambda kind, **data: (events.append((kind, data)), original(kind, **data))[1]
    plain = app.wait(app.job({"class": [7], "seed": [3], "preview_every": 0}))
    watched = app.wait(app.job({"class": [7], "seed": [3], "preview_every": 1}))
    previews = [d for k, d in events if k == "preview" and d["id"] == watched["id"]]
    assert [p["step"] for p in previews] == [1, 2, 3, 4, 5]
    assert previews[0]["image"].startswith("data:image/png;base64,")
    assert not [d for k, d in events if k == "preview" and d["id"] == plain["id"]]
    a, b = (pixels(app.out / s["images"][0]) for s in (plain, watched))
    assert np.array_equal(a, b)


# ---------------------------------------------------------------------------------------------- gallery, models


def test_gallery_newest_first_metadata_replay_use_all_delete(app, tmp_path):
    first = app.wait(app.job({"class": [2], "seed": [9], "num_images": 2}))["images"]
    time.sleep(0.02)
    second = app.wait(app.job({"class": [6], "seed": [1]}))["images"]
    Image.new("RGB", (300, 200), "red").save(app.out / "plain.png")  # no metadata: lists, cannot replay
    listing = app.get("/api/images").json()
    assert [i["name"] for i in listing["items"]] == ["plain.png", *second, *reversed(first)]
    item = listing["items"][1]
    assert item["summary"]["class"] == 6 and item["summary"]["seed"] == 1 and item["has_record"]
    assert app.get("/api/images?limit=2&offset=1").json()["items"][0]["name"] == second[0]
    thumb = app.get("/api/images/plain.png/thumbnail")
    assert Image.open(__import__("io").BytesIO(thumb.content)).size == (192, 128)
    assert len(list((app.out / ".rae-thumbs").glob("plain.*.png"))) == 1
    assert app.get("/api/images/plain.png/job").status_code == 400

    job = app.get(f"/api/images/{first[1]}/job").json()
    assert job["class"] == ["2"] and job["seed"] == [9] and job["num_images"] == 2 and job["row"] == 1
    assert app.get(f"/api/images/{first[1]}/metadata").json()["record"]["batch"]["row"] == 1
    bad = app.post(f"/api/images/{first[1]}/replay", {"preview_every": "x"})
    assert bad.status_code == 400 and bad.json()["error"].startswith("preview_every must be a whole number")
    replay = app.post(f"/api/images/{first[1]}/replay")
    again = app.wait(replay.json()["id"])["images"]
    assert len(again) == 1 and np.array_equal(pixels(app.out / again[0]), pixels(app.out / first[1]))

    copy = app.post(f"/api/images/{second[0]}/save-copy").json()["path"]
    assert Path(copy) == tmp_path / "home" / "Downloads" / second[0]  # made when missing, never loose in ~
    again = Path(app.post(f"/api/images/{second[0]}/save-copy").json()["path"])
    assert again.name == second[0][:-4] + "-2.png" and again.read_bytes() == Path(copy).read_bytes()
    assert sorted(p.name for p in again.parent.iterdir()) == sorted([Path(copy).name, again.name])  # no temp left
    (app.out / second[0]).with_suffix(".json").write_text("{}")
    assert app.client.delete(f"/api/images/{second[0]}", headers=AUTH).json() == {"deleted": second[0]}
    assert not (app.out / second[0]).exists() and not (app.out / second[0]).with_suffix(".json").exists()
    assert app.get(f"/api/images/{second[0]}").status_code == 404


def test_reveal_says_so_when_nothing_can_be_shown(app, monkeypatch, tmp_path):
    import sys

    from rae_apps.app import gallery

    name = app.wait(app.job({"class": [1], "seed": [0]}))["images"][0]
    reveal = f"/api/images/{name}/reveal"
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(gallery.shutil, "which", lambda command: "/usr/bin/" + command)
    r = app.post(reveal)  # a server without a screen: the page must not say "shown"
    assert r.status_code == 500 and "no display" in r.json()["error"] and str(app.out / name) in r.json()["error"]
    monkeypatch.setenv("DISPLAY", ":0")
    opener = tmp_path / "opener"
    opener.write_text("#!/bin/sh\nexit ${OPENER_EXIT}\n")
    opener.chmod(0o755)
    monkeypatch.setattr(gallery, "reveal_command", lambda path: [str(opener), str(path.parent)])
    monkeypatch.setenv("OPENER_EXIT", "3")
    r = app.post(reveal)
    assert r.status_code == 500 and "exit status 3" in r.json()["error"]
    monkeypatch.setenv("OPENER_EXIT", "0")
    assert app.post(reveal).json() == {"command": [str(opener), str(app.out)]}
    monkeypatch.setattr(gallery.shutil, "which", lambda command: None)
    assert "is not installed" in app.post(reveal).json()["error"]


def test_save_copy_goes_to_the_xdg_downloads_folder(tmp_path, monkeypatch):
    import sys

    from rae_apps.app.gallery import downloads_folder

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert downloads_folder() == tmp_path / "Downloads"
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "user-dirs.dirs").write_text('XDG_DESKTOP_DIR="$HOME/Desktop"\n'
                                                        'XDG_DOWNLOAD_DIR="$HOME/Téléchargements"\n')
    assert downloads_folder() == tmp_path / "Téléchargements"
    (tmp_path / "config" / "user-dirs.dirs").write_text('XDG_DOWNLOAD_DIR="$HOME/"\n')  # disabled: the home
    assert downloads_folder() == tmp_path / "Downloads"


def test_unreadable_images_and_forged_records_never_break_the_gallery(app):
    """Any PNG in the output folder may be broken or carry a `rae` chunk of any shape (the listing was a 500)."""
    (app.out / "broken.png").write_bytes(b"not a png")
    for i, text in enumerate(['{"sampler": 5, "guidance": null, "source": [1], "seeds": "x"}', "{not json", "[1, 2]"]):
        info = PngImagePlugin.PngInfo()
        info.add_text("rae", text)
        Image.new("RGB", (8, 8)).save(app.out / f"forged{i}.png", pnginfo=info)
    listing = app.get("/api/images")
    assert listing.status_code == 200 and listing.json()["total"] == 4
    first = next(i for i in listing.json()["items"] if i["name"] == "forged0.png")
    assert first["summary"]["sampler"] is None and first["summary"]["seed"] is None
    r = app.get("/api/images/broken.png/thumbnail")
    assert r.status_code == 422 and "is not an image Pillow can read" in r.json()["error"]
    assert app.get("/api/images/broken.png/metadata").json()["record"] is None
    for name in ("broken.png", "forged0.png", "forged1.png", "forged2.png"):
        assert app.get(f"/api/images/{name}/job").status_code == 400
        assert app.post(f"/api/images/{name}/replay").status_code == 400


def test_models_page_and_offline_download(app):
    presets = app.get("/api/presets").json()
    assert presets["offline"] is True
    demo = next(p for p in presets["presets"] if p["name"] == "digits-demo")
    assert demo["ready"] and demo["builtin"] and demo["bytes"] > 0 and all(f["cached"] for f in demo["files"])
    xl = next(p for p in presets["presets"] if p["name"] == "dit-dh-xl-256-ag")
    assert not xl["ready"] and xl["parameters"] > 600e6
    form = app.get("/api/presets/digits-demo").json()
    assert form["defaults"] == {"steps": 50, "sampler": "euler", "guidance": "cfg", "scale": 2.0, "interval": [0, 1]}
    assert form["num_classes"] == 10 and form["classes"][3] == [3, "3"]
    assert len(app.get("/api/presets/dit-dh-xl-256-ag").json()["classes"]) == 1000
    r = app.post("/api/presets/dit-dh-xl-256-ag/download")
    assert r.status_code == 202 and r.json()["status"] == "failed"
    assert "rae download dit-dh-xl-256-ag" in r.json()["error"]
    # the autoencoder presets too (rae reconstruct --autoencoder, training), each with its files
    aes = {a["name"]: a for a in presets["autoencoders"]}
    assert {"dinov2-b", "dinov2-s", "dinov2-l", "siglip2-b", "mae-b-diffusers"} <= set(aes)
    assert [f["filename"] for f in aes["dinov2-s"]["files"]] == ["config.json", "diffusion_pytorch_model.safetensors"]
    assert not aes["dinov2-s"]["ready"] and 400e6 < aes["dinov2-s"]["parameters"] < 500e6
    r = app.post("/api/presets/dinov2-s/download")
    assert r.status_code == 202 and "rae download dinov2-s" in r.json()["error"]
    assert app.post("/api/presets/dinov2-b-reg/download").status_code == 404  # a model preset: not listed
    r = app.post("/api/jobs", {"preset": "dit-dh-xl-256-ag", "class": [207], "seed": [0]})
    assert r.status_code == 400 and "rae download dit-dh-xl-256-ag" in r.json()["error"]


def test_estimates_and_reload_on_dtype_change(app):
    e = app.post("/api/estimate", {"class": [1, 2], "seed": [0, 1], "batch_size": 2}).json()
    assert e["images"] == 4 and e["seconds"] is None and 0 < e["memory_bytes"] < 1e9  # RSS: torch itself counts
    assert e["batch_size"] == 2
    auto = app.post("/api/estimate", {"class": [1, 2, 3], "seed": [0]}).json()  # no batch size: what fits (all 3)
    assert auto["batch_size"] == 3 and auto["memory_bytes"] >= e["memory_bytes"]
    big = app.post("/api/estimate", {"preset": "dit-dh-xl-256-ag", "class": [1], "seed": [0]}).json()
    half = app.post("/api/estimate", {"preset": "dit-dh-xl-256-ag", "class": [1], "seed": [0],
                                      "dtype": "bfloat16"}).json()
    # torch keeps float32 weights under autocast, so bfloat16 saves nothing here (MLX halves them: rae_spec)
    assert 2.5e9 < big["memory_bytes"] < 12e9 and half["memory_bytes"] <= big["memory_bytes"]
    app.wait(app.job({"class": [1], "seed": [0]}))
    e = app.post("/api/estimate", {"class": [1, 2], "seed": [0, 1], "steps": 6}).json()
    assert e["calibrated"] and e["seconds"] > 0
    state = app.wait(app.job({"class": [1], "seed": [0], "dtype": "bfloat16"}))
    assert state["status"] == "done" and app.worker.engine.dtype == "bfloat16"
    assert app.get(f"/api/images/{state['images'][0]}/metadata").json()["record"]["dtype"] == "bfloat16"


def test_low_memory_jobs_free_the_dit_and_skip_previews(app):
    events = []
    original = app.events.publish
    app.events.publish = lambda kind, **data: (events.append(kind), original(kind, **data))[1]
    normal = app.wait(app.job({"class": [5], "seed": [2]}))
    low = app.wait(app.job({"class": [5], "seed": [2], "low_memory": True, "preview_every": 1}))
    assert low["status"] == "done" and "preview" not in events
    assert app.worker.status()["loaded"] == ["decoder"]  # the DiT was freed before decoding
    assert np.array_equal(pixels(app.out / low["images"][0]), pixels(app.out / normal["images"][0]))


def test_download_reports_progress_and_fills_the_models_folder(tmp_path, monkeypatch):
    import huggingface_hub
    from rae_apps.app.catalog import Catalog
    from rae_apps.estimate import TimingStore

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("RAE_CACHE", str(tmp_path / "cache"))

    def fake_download(repo, filename, local_dir=None, tqdm_class=None, **kw):  # the hub, without a network
        path = Path(local_dir) / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        with tqdm_class(total=1000) as bar:
            for _ in range(4):
                bar.update(250)
        path.write_bytes(b"x" * 1000)
        return str(path)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    monkeypatch.setattr("rae_apps.hub.hub_unreachable", lambda: None)  # as if online
    events = EventBus()
    seen = []
    events.publish = lambda kind, **data: seen.append(dict(data))
    registry = load_registry(None)
    catalog = Catalog(registry, Store(tmp_path / "models"), events, TimingStore(tmp_path / "t.json"), "torch")
    catalog.download(registry.default_pipeline)
    end = time.time() + 10
    while time.time() < end and (not seen or seen[-1]["status"] == "running"):
        time.sleep(0.01)
    assert seen[-1]["status"] == "done", seen[-1]
    assert any(e["done"] == 500 and e["total"] == 1000 for e in seen)  # progress within a file
    name = seen[-1]["name"]
    assert next(p for p in catalog.presets()["presets"] if p["name"] == name)["ready"]


def test_a_job_without_a_batch_size_gets_one_that_fits_and_says_so(app, monkeypatch):
    from rae_apps import machine

    logs = []
    original = app.events.publish
    app.events.publish = lambda kind, **data: (logs.append(data.get("message", "")) if kind == "log" else None,
                                               original(kind, **data))[1]
    state = app.wait(app.job({"class": [1, 2, 3], "seed": [0]}))
    assert state["status"] == "done"
    record = app.get(f"/api/images/{state['images'][0]}/metadata").json()["record"]
    assert record["batch"]["batch_size"] == 3
    assert not any(m.startswith("batch size") for m in logs), logs  # all three fit: nothing to say
    # the estimates themselves are tested with `rae sample` (tests/apps/test_doctor.py); here: what the page hears
    monkeypatch.setattr(machine, "largest_batch", lambda *a, **k: 2)
    monkeypatch.setattr("rae_apps.app.worker.available_memory", lambda backend, device: machine.Memory(10**12, "test"))
    state = app.wait(app.job({"class": [1, 2, 3], "seed": [0]}))
    assert any(m.startswith("batch size 2: estimated peak") and "available (test)" in m
               and "the Batch size field" in m and "--batch-size" not in m for m in logs), logs
    record = app.get(f"/api/images/{state['images'][0]}/metadata").json()["record"]
    assert record["batch"]["batch_size"] == 2
    logs.clear()
    app.wait(app.job({"class": [1, 2, 3], "seed": [0], "batch_size": 3}))  # a given batch size wins, silently
    assert not any(m.startswith("batch size") for m in logs)


def test_a_presets_file_pipeline_with_its_own_decoder_has_a_form(tmp_path):
    """The generate form of a pipeline whose decoder only the presets file defines (sizes from the registry)."""
    from rae_apps.app.catalog import Catalog
    from rae_apps.estimate import TimingStore

    presets = {"models": {"my-decoder": {"kind": "decoder", "repo": "./weights", "filename": "model.pt",
                                         "config": {"type": "DecoderConfig", "hidden_size": 32, "num_layers": 1,
                                                    "num_heads": 2, "intermediate_size": 64, "latent_dim": 32,
                                                    "num_patches": 16, "patch_size": 4}}},
               "pipelines": {"mine": {"dit": "digits-demo-dit", "decoder": "my-decoder", "stats": "digits-demo-stats",
                                      "encoder": "digits-demo-encoder", "encoder_input_size": 32}}}
    (tmp_path / "presets.json").write_text(json.dumps(presets))
    registry = load_registry(tmp_path / "presets.json")
    catalog = Catalog(registry, Store(tmp_path / "models"), EventBus(), TimingStore(tmp_path / "t.json"), "torch")
    assert catalog.preset("mine")["image_size"] == 16
