"""The web monitor in a real (headless) Chromium: failure shown, graph marked, retry works.

Skips when Chromium, chromedriver or selenium is absent. CI installs the Debian
packages ``chromium`` and ``chromium-driver`` and ``pip install selenium``;
selenium drives that chromedriver and never downloads a browser itself.
Set ``CLOUDPHOT_SCREENSHOT_DIR`` to keep the screenshots.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
    pytest.skip(
        "chromium/chromedriver not installed (apt-get install chromium chromium-driver)",
        allow_module_level=True,
    )
webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium")
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from cloudphot.monitor.web import MonitorApp, make_server

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
    "--window-size=1400,1100",
)


def _workspace(base: Path):
    from cloudphot.runtime.platform import LocalPlatform
    from cloudphot.settings import Settings
    from cloudphot.simulate.exposure import synthetic_exposure

    rt = LocalPlatform(
        Settings.from_env(home=base / "ws", backend="local", env={}), sleep=lambda s: None
    )
    src = base / "in"
    src.mkdir()
    good = [
        synthetic_exposure(
            src / f"jbrw0{i}q_flc.fits", rootname=f"jbrw0{i}q", shape=(64, 64), nstars=8, seed=i
        )
        for i in range(2)
    ]
    bad = src / "jbrwbadq_flc.fits"
    bad.write_bytes(good[0].read_bytes()[:30000])
    rt.runner.upload([*good, bad])
    rt.run()
    return rt, good, bad


@pytest.fixture
def served(tmp_path):
    rt, good, bad = _workspace(tmp_path)
    app = MonitorApp(rt)
    server = make_server(app, "127.0.0.1", 0)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", app, rt, good, bad
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        app.wait_idle(30)
        rt.close()


@pytest.fixture
def browser(tmp_path):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in FLAGS:
        opts.add_argument(flag)
    opts.add_argument(f"--user-data-dir={tmp_path / 'chrome-profile'}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _shot(driver, tmp_path: Path, name: str) -> Path:
    out_dir = Path(os.environ.get("CLOUDPHOT_SCREENSHOT_DIR") or tmp_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1400, min(max(int(height) + 40, 700), 3000))
    path = out_dir / name
    assert driver.save_screenshot(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return path


def test_failure_graph_and_retry_in_the_browser(served, browser, tmp_path):
    base, _app, rt, _good, bad = served
    wait = WebDriverWait(browser, 30)
    browser.get(base + "/")

    # the tree: the failed job stands out with its error and rerun command
    failed = wait.until(
        EC.presence_of_element_located((By.CSS_SELECTOR, '#tree .job[data-state="FAILED"]'))
    )
    block = failed.find_element(By.XPATH, "following-sibling::div[@class='failure']")
    assert "InvalidExposure" in block.text and "truncated" in block.text
    assert "cloudphot retry obj-" in block.text and "--task ingest_exposure" in block.text
    chips = {
        c.get_attribute("data-state"): c.text
        for c in browser.find_elements(By.CSS_SELECTOR, "#counts .chip")
    }
    assert chips["FAILED"].endswith("1") and chips["SUCCEEDED"].endswith("4")
    assert "2 object.created subtree(s)" in browser.find_element(By.ID, "tree").text
    _shot(browser, tmp_path, "monitor-tree-with-failure.png")

    # the filter box narrows the tree
    box = browser.find_element(By.ID, "filter")
    box.send_keys("jbrw01q")
    wait.until(
        lambda d: (
            "jbrwbadq" not in d.find_element(By.ID, "tree").text
            and "jbrw01q_flc.fits" in d.find_element(By.ID, "tree").text
        )
    )
    box.clear()
    box.send_keys("failed")
    wait.until(lambda d: "jbrwbadq_flc.fits" in d.find_element(By.ID, "tree").text)

    # the job page: the execution graph marks where it failed
    browser.find_element(By.CSS_SELECTOR, '#tree .job[data-state="FAILED"] a.task').click()
    wait.until(
        EC.presence_of_element_located(
            (By.CSS_SELECTOR, '#graph svg g[data-state="Rejected"][data-status="failed"]')
        )
    )
    caught = browser.find_element(By.CSS_SELECTOR, '#graph svg g[data-state="ReadExposure"]')
    assert caught.get_attribute("data-status") == "caught"
    assert "truncated" in browser.find_element(By.ID, "job-error").text
    # a retry would read the same truncated file: no button, what to fix instead
    assert "fix: the upload itself is refused" in browser.find_element(By.ID, "job-error").text
    assert not browser.find_elements(By.ID, "retry")
    _shot(browser, tmp_path, "monitor-job-failed.png")

    # replace the broken upload, press retry: the page shows the new, successful attempt
    from cloudphot.simulate.exposure import synthetic_exposure

    fixed = synthetic_exposure(tmp_path / bad.name, rootname="jbrwbadq", shape=(64, 64), nstars=8)
    rt.objects.put_file(rt.settings.bucket("raw"), bad.name, fixed)
    wait.until(EC.element_to_be_clickable((By.ID, "retry"))).click()  # offered once replaced
    WebDriverWait(browser, 90).until(
        EC.presence_of_element_located((By.CSS_SELECTOR, '#job-head[data-state="SUCCEEDED"]'))
    )
    wait.until(
        EC.presence_of_element_located(
            (By.CSS_SELECTOR, '#graph svg g[data-state="Registered"][data-status="succeeded"]')
        )
    )
    tabs = [b.text for b in browser.find_elements(By.CSS_SELECTOR, ".tabs button")]
    assert tabs == ["attempt 1: FAILED", "attempt 2: SUCCEEDED"]
    assert not browser.find_elements(By.ID, "retry")
    _shot(browser, tmp_path, "monitor-job-retried.png")


def test_a_replay_branch_and_a_science_result_in_the_browser(served, browser, tmp_path):
    """Issue 18 item 7: a replay branch is labelled with the options it changed, and a
    reduction's result is a sentence, on the tree page and the job page."""
    from cloudphot.events import Event, Job, JobState

    base, _app, rt, _good, _bad = served
    ready = Event(
        event_id="field.ready-brw-field-0123456789abcdef",
        type="field.ready",
        subject="brw-field",
        source="test",
        payload={"field_id": "brw-field", "options": {}},
    )
    assert rt.store.record(ready)
    rt.store.mark_dispatched(ready.event_id)
    out = {
        "field_id": "brw-field",
        "summary": {
            "field_id": "brw-field",
            "filters": ["F475W", "F814W"],
            "n_exposures": 8,
            "n_measurements": 1945,
            "n_stars": 288,
        },
    }
    main = Job(
        job_id="reduce_field-0123456789abcdef",
        event_id=ready.event_id,
        task="reduce_field",
        executor={},
        input={"options": {"photometry": {"detect_threshold_sigma": 5.0}}},
    )
    branch = Job(
        job_id="reduce_field-0123456789abcdef-s4",
        event_id=ready.event_id,
        task="reduce_field",
        executor={},
        branch="s4",
        input={
            "options": {"photometry": {"detect_threshold_sigma": 4}, "branch": "s4"},
            "replay_of": main.job_id,
        },
    )
    for job in (main, branch):
        assert rt.store.create_job(job)
        job.state, job.output = JobState.SUCCEEDED, out
        rt.store.tables.put("jobs", job.to_item())

    wait = WebDriverWait(browser, 30)
    browser.get(base + "/")
    wait.until(EC.element_to_be_clickable((By.ID, "expand-all"))).click()  # succeeded roots
    label = wait.until(
        EC.presence_of_element_located(
            (By.CSS_SELECTOR, f'#tree .job[data-job="{branch.job_id}"] .branch')
        )
    )
    assert label.text == "branch s4: photometry.detect_threshold_sigma=4"
    line = browser.find_element(By.CSS_SELECTOR, f'#tree .job[data-job="{main.job_id}"]')
    assert not line.find_elements(By.CSS_SELECTOR, ".branch")
    result = line.find_element(By.CSS_SELECTOR, ".result").text
    assert (
        result
        == "288 stars, 1,945 measurements in F475W, F814W from 8 exposure(s) of field brw-field"
    )
    _shot(browser, tmp_path, "monitor-tree-replay-branch.png")

    browser.get(f"{base}/#/jobs/{branch.job_id}")
    head = wait.until(EC.presence_of_element_located((By.ID, "job-head")))
    wait.until(lambda d: "replays" in d.find_element(By.ID, "job-head").text)
    text = head.text
    assert f"s4: photometry.detect_threshold_sigma=4 (replays {main.job_id})" in text, text
    assert "288 stars, 1,945 measurements" in text
    _shot(browser, tmp_path, "monitor-job-replay-branch.png")
