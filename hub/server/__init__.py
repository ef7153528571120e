"""The Atelier hub server: a Civitai-compatible catalog and download server (FastAPI + SQLite).

Start it with `python -m hub.server --data DIR --port 8765` (or `python launch.py hub-server`);
build one in code with `hub.server.app.create_app(data_dir)`.
"""
