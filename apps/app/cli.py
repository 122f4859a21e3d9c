"""`rae app`: start the local web app (starlette + uvicorn from the `app` extra, imported only here)."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import sys
import threading
import webbrowser
from pathlib import Path
from typing import Any

import click

from ..engines.base import DTYPES
from ..errors import UserError
from ..options import BACKEND_CHOICES, debug_option, models_dir_option, presets_option
from .security import is_loopback

EXAMPLES = """
\b
Examples:
  rae app                                   open the app in the default browser
  rae app --preset digits-demo --no-browser print the URL only (the built-in demo needs no download)
  rae app --window                          a native window (macOS, pywebview)
  rae app --port 8765 --output-dir ~/art    a fixed port and another image folder
"""


def default_output_dir() -> Path:
    """~/Pictures/rae when there is a Pictures folder, else ~/rae-images."""
    home = Path.home()
    return home / "Pictures" / "rae" if (home / "Pictures").is_dir() else home / "rae-images"


@click.command("app", epilog=EXAMPLES)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback exposes the app to the network (a warning is printed); "
                   "0.0.0.0: every address, answering to this machine's names and addresses.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True, help="Port (0: a free one).")
@click.option("--no-browser", is_flag=True, help="Do not open a browser; just print the URL.")
@click.option("--window", is_flag=True, help="Open a native window instead of the browser (macOS; pywebview).")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where images are written and the gallery reads [default: ~/Pictures/rae, else ~/rae-images].")
@click.option("--preset", default=None, help="The pipeline selected at start [default: the default pipeline].")
@click.option("--backend", type=click.Choice(BACKEND_CHOICES), default="auto", show_default=True,
              help="auto: MLX on Apple silicon, else torch (CUDA when available, else CPU).")
@click.option("--dtype", type=click.Choice(DTYPES), default="float32", show_default=True, help="Compute dtype.")
@click.option("--quantize", type=click.Choice(["4", "8"]), default=None, help="Quantize weights (MLX only).")
@click.option("--low-memory", is_flag=True, help="Free the DiT before decoding (lower peak; no live previews).")
@click.option("--preview-every", type=click.IntRange(0), default=5, show_default=True,
              help="Default preview interval in steps (0 = off; the page can change it).")
@models_dir_option
@presets_option
@debug_option
def app(**o: Any) -> None:
    """A local web app: models stay loaded, live previews, a queue and a gallery.

    Prints one line with the URL (it holds the access token) and serves until Ctrl-C.
    """
    run(**o)


def run(host: str, port: int, no_browser: bool, window: bool, output_dir: Path | None, preset: str | None,
        backend: str, dtype: str, quantize: str | None, low_memory: bool, preview_every: int,
        models_dir: Path | None, presets_file: Path | None) -> None:
    if window and sys.platform != "darwin":
        raise UserError("--window opens a native macOS window (pywebview with WebKit); on this system open the "
                        "printed URL in a browser instead")
    try:
        import starlette  # noqa: F401
        import uvicorn
    except ImportError as e:
        raise UserError(f"rae app needs the app extra ({e.name} is missing): pip install 'rae-mlx[app]'") from e
    if window:
        try:
            import webview
        except ImportError as e:
            raise UserError("--window needs pywebview: pip install 'rae-mlx[app]' (on macOS)") from e

    from ..engines import check_quantize, choose_backend
    from ..hub import Store
    from ..job import SampleJob
    from ..registry import load_registry
    from .events import EventBus
    from .security import new_token
    from .server import App, build
    from .worker import Settings, Worker

    registry = load_registry(presets_file)
    preset = preset or registry.default_pipeline
    registry.pipeline(preset)  # an unknown name: one line with suggestions
    q = int(quantize) if quantize else None
    check_quantize(choose_backend(backend), q)
    out = (output_dir or default_output_dir()).expanduser().resolve()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot use --output-dir {out}: {e}") from e

    sock = bind(host, port)
    port = sock.getsockname()[1]
    names = set() if is_loopback(host) else answers_to(host)  # the Host headers it accepts besides loopback
    events = EventBus()
    settings = Settings(registry, Store(models_dir, log=lambda m: events.publish("log", message=m)), out, backend,
                        low_memory)
    worker = Worker(settings, events)
    token = new_token()
    asgi = build(App(worker, events, token, preset, dtype, q, preview_every), [port], names)
    local = "127.0.0.1" if host in WILDCARDS else host  # the wildcard address is no address to open
    url = f"http://{bracket(local)}:{port}/?token={token}"
    if names:
        remote = " or ".join(f"http://{bracket(n)}:{port}/" for n in sorted(names, key=_address_first)[:3])
        click.echo(f"warning: rae app listens on {host}, reachable from other machines (as {remote}); anyone "
                   "with the token can use it", err=True)
    click.echo(f"rae app: {url}")
    sys.stdout.flush()
    click.echo(f"images: {out}", err=True)
    worker.start()
    worker.preload(SampleJob(classes=("0",), seeds=(0,), preset=preset, dtype=dtype, quantize=q))

    config = uvicorn.Config(asgi, log_level="warning", timeout_graceful_shutdown=2, lifespan="on")
    server = uvicorn.Server(config)
    try:
        if window:
            thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
            thread.start()
            webview.create_window("rae", url, width=1280, height=860)
            webview.start()  # Cocoa wants the main thread; closing the window stops the server
            server.should_exit = True
            thread.join(5)
        else:
            if not no_browser:
                threading.Timer(0.5, webbrowser.open, args=(url,)).start()
            server.run(sockets=[sock])
    finally:
        worker.stop()


WILDCARDS = ("0.0.0.0", "::", "")


def bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def answers_to(host: str) -> set[str]:
    """The names other machines use for this one: the --host given, or for a wildcard (0.0.0.0, ::) this
    machine's host names and addresses (its Host header check accepts only these, and loopback)."""
    if host not in WILDCARDS:
        return {host}
    names = {socket.gethostname(), socket.getfqdn()}
    for name in list(names):
        with contextlib.suppress(OSError):
            names |= {info[4][0] for info in socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)}
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: the system picks the address of its default route
        names.add(probe.getsockname()[0])
    return {n for n in names if n and not is_loopback(n) and n not in WILDCARDS}


def _address_first(name: str) -> tuple[bool, str]:
    try:
        ipaddress.ip_address(name)
        return False, name
    except ValueError:
        return True, name


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free port chosen by the system)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
    sock.listen(128)
    sock.set_inheritable(True)
    return sock
