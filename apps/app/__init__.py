"""`rae app`: a local web app that keeps the models warm, shows live previews and a gallery.

    server.py    the starlette routes (the page's and scripts' JSON + Server-Sent Events API)
    security.py  token, Host / Origin checks, JSON-only bodies, safe image names, CSP
    worker.py    the one thread that owns the models and runs the FIFO job queue
    events.py    the fan-out from the worker thread to every open event stream
    gallery.py   the images in the output folder, their metadata and cached thumbnails
    catalog.py   presets, their files and cache status, downloads with progress
    static/      the page (HTML, CSS, JS; no build step, nothing from a CDN)

Needs the `app` extra (starlette, uvicorn; pywebview on macOS for --window).
"""
