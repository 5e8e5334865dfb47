"""The soak run: real uvicorn and gunicorn servers, 200 clients, Redis killed and paused.

``python -m benchmarks.soak`` (or ``make soak``); see ``benchmarks/README.md``.
"""
