"""A small synthetic catalog served over real HTTP (uvicorn on a free port) once per session."""

from __future__ import annotations

import pytest

from cloudphot.catalog import shapes
from cloudphot.catalog.api import Catalog
from cloudphot.catalog.synthetic import FieldSpec, make_survey
from cloudphot.service.local import BackgroundServer, local_app
from cloudphot.service.queries import Limits
from cloudphot.settings import Settings

#: the seed paper's cone query looks here; a pinned star makes sure it finds rows
PAPER_RA, PAPER_DEC = 11.02203, 41.23451
#: small limits so overflow and the sync row limit are reachable in tests
LIMITS = Limits(sync_max_rows=500, async_max_rows=5000, default_maxrec=500, engines=2, wait_s=1)


@pytest.fixture(scope="session")
def demo_catalog(tmp_path_factory):
    """(settings, catalog, survey truth) of two overlapping fields and one at the paper's cone."""
    path = tmp_path_factory.mktemp("service")
    settings = Settings.from_env(home=path, env={})
    cat = Catalog(settings)
    survey = make_survey(
        cat.store,
        settings.bucket("products"),
        n_fields_ra=2,
        density_per_arcsec2=0.05,
        epochs_per_filter=30,
        cepheid_fraction=0.03,
        extra_fields=(FieldSpec("b16_f01", PAPER_RA, PAPER_DEC, 40.0),),
        pinned=((PAPER_RA + 0.05 / 3600, PAPER_DEC),),
    )
    cat.build()
    yield settings, cat, survey
    cat.close()


@pytest.fixture(scope="session")
def service(demo_catalog):
    """(root URL, app) of the service over the demo catalog."""
    settings, cat, _ = demo_catalog
    app = local_app(settings, cat.store, limits=LIMITS)
    with BackgroundServer(app) as server:
        yield server.url, app


@pytest.fixture(scope="session")
def tap_url(service) -> str:
    return service[0] + "tap"


@pytest.fixture(scope="session")
def tap(tap_url):
    """A pyvo TAPService on a session this fixture closes (pyvo's own is never closed, and
    its pooled sockets would surface as unraisable ResourceWarnings at random later tests)."""
    import pyvo
    import requests

    with requests.Session() as session:
        yield pyvo.dal.TAPService(tap_url, session=session)


@pytest.fixture(autouse=True)
def _collect_client_sockets():
    """Collect HTTP client objects after each test with ResourceWarning silenced.

    pyvo opens requests sessions of its own inside some calls (job objects, capability
    look-ups) and never closes them; their pooled sockets are otherwise reported as
    unraisable ResourceWarnings in whichever later test the garbage collector runs.
    The service's own connections are closed by uvicorn and are not affected.
    """
    import gc
    import warnings

    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@pytest.fixture(autouse=True)
def _verify_shape_plans(monkeypatch):
    """Every query these tests plan is planned the ordinary way too, and must agree."""
    monkeypatch.setattr(shapes, "VERIFY", True)
