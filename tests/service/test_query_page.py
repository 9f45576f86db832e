"""The web query page (issue 20 item 4) in a real headless Chromium, behind serve's door.

The page is a client of /tap only: these tests type queries into its form and read
what it shows. Skips when Chromium, chromedriver or selenium is absent (CI installs
the Debian packages chromium and chromium-driver and pip install selenium).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import httpx
import pytest

from cloudphot.service.door import LOOPBACK_HOSTS, Door
from cloudphot.service.local import BackgroundServer, local_app

from .conftest import LIMITS, PAPER_DEC, PAPER_RA

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
HAVE_BROWSER = os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)


@pytest.fixture(scope="module")
def page_url(demo_catalog):
    """The root URL of a service behind the same Door as ``cloudphot serve``."""
    settings, cat, _ = demo_catalog
    app = Door(local_app(settings, cat.store, limits=LIMITS), LOOPBACK_HOSTS)
    with BackgroundServer(app) as server:
        yield server.url


@pytest.fixture(scope="module")
def token(demo_catalog):
    from cloudphot.service.accounts import UserStore

    settings, _, _ = demo_catalog
    users = UserStore(settings.home / "service.sqlite")
    if "webpage" in users.names():
        users.remove("webpage")
    return users.add("webpage")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not HAVE_BROWSER:
        pytest.skip(
            "chromium/chromedriver not installed (apt-get install chromium chromium-driver)"
        )
    webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium")
    from selenium.webdriver.chrome.service import Service

    base = tmp_path_factory.mktemp("chrome")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={base / 'profile'}")
    downloads = base / "downloads"
    downloads.mkdir()
    opts.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


def _by():
    from selenium.webdriver.common.by import By

    return By


def _wait(driver, cond, timeout=60):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(cond)


def _open(browser, url):
    browser.get(url + "query")
    _wait(browser, lambda d: d.find_element(_by().ID, "schema-tree").get_attribute("data-loaded"))


def _type_and_run(browser, query: str, lang: str = "ADQL", maxrec: str | None = None):
    By = _by()
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element(By.ID, "lang")).select_by_value(lang)
    box = browser.find_element(By.ID, "query")
    box.clear()
    box.send_keys(query)
    if maxrec is not None:
        m = browser.find_element(By.ID, "maxrec")
        m.clear()
        m.send_keys(maxrec)
    browser.execute_script("document.body.dataset.state = ''")
    browser.find_element(By.ID, "run").click()
    _wait(
        browser,
        lambda d: (
            d.find_element(By.TAG_NAME, "body").get_attribute("data-state") in ("done", "error")
        ),
    )
    state = browser.find_element(By.TAG_NAME, "body").get_attribute("data-state")
    if state == "error":
        print(f"{query!r}: {browser.find_element(By.ID, 'error').text}")
    return state


def _column(browser, name: str) -> list[str]:
    By = _by()
    heads = [
        th.text.split(" [")[0]
        for th in browser.find_elements(By.CSS_SELECTOR, "#result-table thead th")
    ]
    i = heads.index(name)
    return [
        tr.find_elements(By.TAG_NAME, "td")[i].text
        for tr in browser.find_elements(By.CSS_SELECTOR, "#result-table tbody tr")
    ]


def _all_rows(browser) -> int:
    return int(browser.execute_script("return window.cloudphotQuery.rows.length"))


def test_the_page_and_its_files_are_served_and_nothing_else(page_url):
    r = httpx.get(page_url + "query")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert (
        'data-survey="phat_v2"' in r.text
        and f'data-sync-max-rows="{LIMITS.sync_max_rows}"' in r.text
    )
    assert (
        httpx.get(page_url + "query/query.js").headers["content-type"].startswith("text/javascript")
    )
    for bad in ("query/../tap/sync", "query/%2e%2e/pyproject.toml", "query/query.html", "query/x"):
        assert httpx.get(page_url + bad).status_code in (404, 400), bad
    slash = httpx.get(page_url + "query/")
    assert slash.status_code == 308 and slash.headers["location"].endswith("/query")
    # the door: a foreign Host is refused before the page
    assert httpx.get(page_url + "query", headers={"Host": "evil.example"}).status_code == 421


@pytest.mark.slow
def test_the_papers_three_queries_typed_into_the_form(page_url, browser, demo_catalog):
    _, cat, _ = demo_catalog
    By = _by()
    _open(browser, page_url)
    assert _type_and_run(browser, "SELECT * FROM phat_v2.phot_mod LIMIT 100", "SQL") == "done"
    assert _all_rows(browser) == 100
    # paging: 50 a page by default, the second page shows rows 51-100
    assert len(browser.find_elements(By.CSS_SELECTOR, "#result-table tbody tr")) == 50
    first_page = _column(browser, "objid")
    browser.find_element(By.ID, "next").click()
    assert "rows 51–100 of 100" in browser.find_element(By.ID, "page-info").text
    assert set(_column(browser, "objid")).isdisjoint(first_page)
    # units from the catalog's metadata in the header
    assert "ra [deg]" in [
        th.text for th in browser.find_elements(By.CSS_SELECTOR, "#result-table th")
    ]

    group = (
        "SELECT avg(ra) as ra0,avg(dec) as dec0,pix4096,count(pix4096) as nb "
        "FROM phat_v2.phot_mod GROUP BY pix4096"
    )
    assert _type_and_run(browser, group, "SQL") == "done"
    want = cat.query(group)
    nb = browser.execute_script(
        "const s = window.cloudphotQuery; const i = s.fields.findIndex(f => f.name === 'nb');"
        "return s.rows.reduce((a, r) => a + Number(r[i]), 0)"
    )
    assert _all_rows(browser) == len(want) and nb == int(want["nb"].sum())

    cone = (
        f"SELECT * FROM phat_v2.phot_meas WHERE q3c_radial_query(ra,dec,{PAPER_RA},{PAPER_DEC},"
        "0.2/3600)"
    )
    assert _type_and_run(browser, cone, "SQL") == "done"
    want = cat.query(cone)
    assert len(want) > 0 and _all_rows(browser) == len(want)
    shown = browser.execute_script(
        "const s = window.cloudphotQuery; const i = s.fields.findIndex(f => f.name === 'objid');"
        "return [...new Set(s.rows.map(r => r[i]))].sort()"
    )
    assert shown == sorted({str(int(x)) for x in want["objid"]})


@pytest.mark.slow
def test_schema_browser_shows_units_ucds_and_descriptions(page_url, browser):
    By = _by()
    _open(browser, page_url)
    tables = [
        d.get_attribute("data-table")
        for d in browser.find_elements(By.CSS_SELECTOR, "#schema-tree details.table")
    ]
    for name in ("phot_mod", "phot_meas", "phot_visit", "phot_pm", "phot_var"):
        assert f"phat_v2.{name}" in tables
    assert "TAP_SCHEMA.columns" in tables
    row = browser.find_element(
        By.CSS_SELECTOR,
        '#schema-tree details[data-table="phat_v2.phot_pm"] tr[data-column="pm_ra_cosdec"]',
    )
    browser.execute_script("arguments[0].closest('details.table').open = true", row)
    cells = [td.text for td in row.find_elements(By.TAG_NAME, "td")]
    assert cells[0] == "pm_ra_cosdec" and cells[1] == "mas.yr**-1" and cells[2].startswith("pos.pm")
    assert cells[4]  # a description
    # the filter box narrows tables to those with a matching column
    box = browser.find_element(By.ID, "schema-filter")
    box.send_keys("var_chi2")
    visible = [
        d.get_attribute("data-table")
        for d in browser.find_elements(By.CSS_SELECTOR, "#schema-tree details.table")
        if d.is_displayed()
    ]
    assert visible == ["phat_v2.phot_var"]


@pytest.mark.slow
def test_cone_and_light_curve_helpers(page_url, browser, demo_catalog):
    _, cat, _ = demo_catalog
    By = _by()
    _open(browser, page_url)
    for field, value in (
        ("cone-ra", str(PAPER_RA)),
        ("cone-dec", str(PAPER_DEC)),
        ("cone-radius", "5"),
    ):
        el = browser.find_element(By.ID, field)
        el.clear()
        el.send_keys(value)
    browser.execute_script("document.body.dataset.state = ''")
    browser.find_element(By.ID, "cone-run").click()
    _wait(
        browser, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "done"
    )
    want = cat.cone(PAPER_RA, PAPER_DEC, 5)
    assert len(want) > 0 and _all_rows(browser) == len(want)
    assert "CONTAINS(POINT('ICRS', ra, dec)" in browser.find_element(By.ID, "query").get_attribute(
        "value"
    )

    # an objid in the results opens its light curve
    objid = browser.find_element(By.CSS_SELECTOR, "#result-table a.objid").text
    browser.execute_script("document.body.dataset.state = ''")
    browser.find_element(By.CSS_SELECTOR, "#result-table a.objid").click()
    _wait(
        browser, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "done"
    )
    lc = cat.query(f"SELECT mjd FROM phat_v2.phot_meas WHERE objid = {objid}")
    assert len(lc) > 1 and _all_rows(browser) == len(lc)
    assert set(_column(browser, "objid")) == {objid}

    # a bad number is refused on the page, with the field named, and nothing runs
    el = browser.find_element(By.ID, "cone-dec")
    el.clear()
    el.send_keys("95; DROP TABLE x")
    browser.find_element(By.ID, "cone-run").click()
    err = browser.find_element(By.ID, "error")
    assert err.is_displayed() and "Dec" in err.text and "not a number" in err.text


@pytest.mark.slow
def test_hostile_queries_show_the_refusal(page_url, browser):
    By = _by()
    _open(browser, page_url)
    cases = {
        "DROP TABLE phat_v2.phot_mod": "",
        "SELECT * FROM read_csv('/etc/passwd')": "",
        "SELECT 1; SELECT 2": "",
        "SELECT * FROM phat_v2.nonesuch": "nonesuch",
        "SELECT TOP 5 objid FROM phat_v2.phot_mod INTO mydb.stolen": "authenticated",
    }
    for query, word in cases.items():
        assert _type_and_run(browser, query) == "error", query
        err = browser.find_element(By.ID, "error")
        assert err.is_displayed() and "refused (HTTP 4" in err.text, (query, err.text)
        reason = err.find_element(By.CSS_SELECTOR, "pre.reason").text
        assert len(reason) > 10 and "Traceback" not in reason, (query, reason)
        assert word.lower() in reason.lower(), (query, reason)
        assert not browser.find_elements(By.CSS_SELECTOR, "#result-table tbody tr")

    # markup in a value is shown as text, never run
    probe = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
    assert _type_and_run(browser, f"SELECT '{probe}' AS payload") == "done"
    cell = browser.find_element(By.CSS_SELECTOR, "#result-table tbody td")
    assert cell.text == probe and not cell.find_elements(By.TAG_NAME, "img")
    time.sleep(0.2)
    assert browser.execute_script("return window.pwned === undefined")


@pytest.mark.slow
def test_huge_results_are_bounded(page_url, browser):
    By = _by()
    _open(browser, page_url)
    # the page asks for at most the service's synchronous limit (here 500 rows)...
    state = _type_and_run(browser, "SELECT * FROM phat_v2.phot_meas", maxrec="100000000")
    assert state == "done"
    assert browser.find_element(By.ID, "maxrec").get_attribute("value") == str(LIMITS.sync_max_rows)
    assert _all_rows(browser) == LIMITS.sync_max_rows
    # ...says the result was cut and how to get more, and puts one page in the document
    notice = browser.find_element(By.ID, "notice").text
    assert "500" in notice and "async" in notice
    assert len(browser.find_elements(By.CSS_SELECTOR, "#result-table tbody tr")) == 50
    assert "of 500+" in browser.find_element(By.ID, "page-info").text
    # a nonsense row count is refused by the page before anything is sent
    assert (
        _type_and_run(browser, "SELECT TOP 1 objid FROM phat_v2.phot_mod", maxrec="-3") == "error"
    )
    assert "whole number" in browser.find_element(By.ID, "error").text


@pytest.mark.parametrize(
    "fmt,magic",
    [("csv", b'"objid"'), ("votable", b"<?xml"), ("fits", b"SIMPLE"), ("parquet", b"PAR1")],
)
@pytest.mark.slow
def test_downloads_in_each_format(page_url, browser, fmt, magic):
    By = _by()
    if browser.current_url != page_url + "query":
        _open(browser, page_url)
    box = browser.find_element(By.ID, "query")
    box.clear()
    box.send_keys("SELECT TOP 7 objid, ra, dec FROM phat_v2.phot_mod ORDER BY objid")
    for old in browser.downloads.iterdir():
        old.unlink()
    browser.find_element(By.CSS_SELECTOR, f'button.download[data-format="{fmt}"]').click()
    ext = {"votable": "vot"}.get(fmt, fmt)
    target = Path(browser.downloads) / f"phat_v2-result.{ext}"
    _wait(browser, lambda d: target.exists() and target.stat().st_size > 0, 30)
    data = target.read_bytes()
    assert data.startswith(magic)
    if fmt == "csv":
        assert len(data.decode().strip().splitlines()) == 8


@pytest.mark.slow
def test_an_authenticated_user_sees_their_jobs_and_tables(page_url, browser, token):
    By = _by()
    _open(browser, page_url)
    # a personal table stored from the form
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.ID, "token-save").click()
    _wait(browser, lambda d: d.find_element(By.ID, "account").get_attribute("data-state") == "ok")
    stored = _type_and_run(browser, "SELECT TOP 5 objid INTO mydb.five FROM phat_v2.phot_mod")
    assert stored == "done", browser.find_element(By.ID, "error").text
    assert "stored as mydb.five" in browser.find_element(By.ID, "notice").text
    # an async job submitted from the page: it runs, and its result downloads
    box = browser.find_element(By.ID, "query")
    box.clear()
    box.send_keys("SELECT TOP 3 objid FROM phat_v2.phot_mod")
    before = {
        li.get_attribute("data-job") for li in browser.find_elements(By.CSS_SELECTOR, "#jobs li")
    }
    browser.find_element(By.ID, "submit-async").click()
    _wait(
        browser,
        lambda d: [
            li
            for li in d.find_elements(By.CSS_SELECTOR, "#jobs li")
            if li.get_attribute("data-job") not in before and "COMPLETED" in li.text
        ],
    )
    (job_id,) = (
        {li.get_attribute("data-job") for li in browser.find_elements(By.CSS_SELECTOR, "#jobs li")}
        - before
        - {None}
    )
    browser.find_element(By.ID, "jobs-refresh").click()
    _wait(
        browser, lambda d: d.find_elements(By.CSS_SELECTOR, f'#jobs li[data-job="{job_id}"] button')
    )
    _wait(browser, lambda d: "mydb.five 5 rows" in d.find_element(By.ID, "mytables").text)
    browser.find_element(By.CSS_SELECTOR, f'#jobs li[data-job="{job_id}"] button').click()
    got = Path(browser.downloads) / f"phat_v2-job-{job_id}.vot"
    _wait(browser, lambda d: got.exists() and got.stat().st_size > 0, 30)
    from astropy.io.votable import parse_single_table

    assert len(parse_single_table(str(got)).to_table()) == 3
    # a wrong token is refused and said so
    tok = browser.find_element(By.ID, "token")
    tok.clear()
    tok.send_keys("not-a-token")
    browser.find_element(By.ID, "token-save").click()
    _wait(
        browser, lambda d: d.find_element(By.ID, "account").get_attribute("data-state") == "error"
    )
    assert "refused" in browser.find_element(By.ID, "account-state").text
    browser.find_element(By.ID, "token-clear").click()
