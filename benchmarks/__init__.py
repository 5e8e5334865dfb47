"""Side-by-side speed comparison of sessionware with its peers.

Run ``python -m benchmarks`` (``--quick`` for a smoke run, ``--help`` for the
rest). Each framework runs in its own subprocess; Markdown tables go to stdout,
progress to stderr. Module map:

* ``settings``: sizes, the Redis URL, per-variant key prefixes.
* ``jar``, ``driver_asgi``, ``driver_wsgi``: in-process clients with a cookie jar.
* ``scenarios``: the endpoints' session logic, shared by every app.
* ``apps_asgi``, ``apps_wsgi``: one builder per variant (bare, peers, sessionware).
* ``redis_count``: counts Redis round trips and commands client-side.
* ``timing``, ``section``, ``race``, ``manage``: what is measured, and how.
* ``report``: Markdown output.
"""
