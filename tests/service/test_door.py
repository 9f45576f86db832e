"""cloudphot serve's door: foreign Host headers and cross-site writes are refused."""

from __future__ import annotations

import httpx

from cloudphot.service.door import Door
from cloudphot.service.local import BackgroundServer, local_app

from .conftest import LIMITS


def test_foreign_hosts_and_cross_site_writes_are_refused(demo_catalog):
    settings, cat, _ = demo_catalog
    app = Door(local_app(settings, cat.store, limits=LIMITS, exposures=lambda: []))
    with BackgroundServer(app) as server:
        base = server.url + "tap"
        q = {"LANG": "ADQL", "QUERY": "SELECT TOP 1 objid FROM phat_v2.phot_mod"}
        assert httpx.post(base + "/sync", data=q).status_code == 200  # pyvo-like: no Origin
        rebound = httpx.get(base + "/availability", headers={"Host": "evil.example:80"})
        assert rebound.status_code == 421
        cross = httpx.post(base + "/async", data=q, headers={"Origin": "http://evil.example"})
        assert cross.status_code == 403 and "cross-site" in cross.text
        opaque = httpx.post(base + "/async", data=q, headers={"Origin": "null"})
        assert opaque.status_code == 403
        same = httpx.post(base + "/async", data=q, headers={"Origin": server.url.rstrip("/")})
        assert same.status_code == 303
        # reads from other pages are fine (they cannot read the answer without CORS)
        assert (
            httpx.get(base + "/tables", headers={"Origin": "http://evil.example"}).status_code
            == 200
        )
