"""The in-process benchmark's apps, served by real servers for ``benchmarks.servers``.

``uvicorn --factory benchmarks.server_apps:asgi`` and ``gunicorn
'benchmarks.server_apps:wsgi()'`` build the variant named by ``BENCH_VARIANT``
(a name from ``apps_asgi.BUILDERS`` or ``apps_wsgi.BUILDERS``) with the run's key
prefix (``BENCH_RUN_ID``), so that a real server runs exactly the app the
in-process tables measure.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from .settings import parse_args


def _variant(builders: list[Any], section: str) -> Any:
    name = os.environ["BENCH_VARIANT"]
    settings, _ = parse_args(["--section", section, "--run-id", os.environ["BENCH_RUN_ID"]])
    settings = dataclasses.replace(settings, section=f"servers-{section}")
    for variant_name, _redis, build in builders:
        if variant_name == name:
            return build(settings).app
    raise SystemExit(f"unknown variant {name!r}")


def asgi() -> Any:
    from .apps_asgi import BUILDERS

    return _variant(BUILDERS, "asgi")


def wsgi() -> Any:
    from .apps_wsgi import BUILDERS

    return _variant(BUILDERS, "wsgi")
