"""The monitor keeps its routes under the one ASGI app of ``cloudphot serve``."""

from __future__ import annotations

import json

import httpx

from cloudphot.monitor.web import MonitorApp
from cloudphot.service.local import BackgroundServer, local_app

from .conftest import LIMITS


def test_monitor_routes_answer_beside_tap(tmp_path, demo_catalog):
    from cloudphot.platform import open_platform
    from cloudphot.settings import Settings

    settings = Settings.from_env(home=tmp_path / "ws", env={})
    rt = open_platform(settings)
    try:
        _, cat, _ = demo_catalog
        app = local_app(demo_catalog[0], cat.store, monitor=MonitorApp(rt), limits=LIMITS)
        with BackgroundServer(app) as server:
            status = httpx.get(server.url + "api/status", timeout=30)
            assert status.status_code == 200 and "counts" in status.json()
            page = httpx.get(server.url, timeout=30)
            assert page.status_code == 200 and "text/html" in page.headers["content-type"]
            missing = httpx.get(server.url + "api/jobs/nope", timeout=30)
            assert missing.status_code == 404 and "nope" in json.loads(missing.text)["error"]
            assert httpx.head(server.url + "api/status", timeout=30).content == b""
            tap = httpx.get(server.url + "tap/availability", timeout=30)
            assert tap.status_code == 200
    finally:
        rt.close()
