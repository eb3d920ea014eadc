"""The dashboard in headless Debian chromium (selenium + chromedriver) against a real sim broker.

The page loads, prices move within 2 s, the chart draws, a broker killed with SIGKILL turns the page
stale and a new broker on the same ports makes it live again; a screenshot is kept in the test's tmp
dir and in var/test-artifacts/web.png. Without chromium/chromedriver the test FAILS (never skips):
deploy/install-test-tools.sh installs them.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.common.client.live import REPO, BrokerProcess
from tests.services.web.live import WebProcess

ARTIFACTS = REPO / "var" / "test-artifacts"
INSTALL = "deploy/install-test-tools.sh"

#: how many canvas pixels are neither the white background nor transparent
CHART_INK_JS = """
const c = document.getElementById('chart'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
let ink = 0; for (let i = 0; i < d.length; i += 4) { if (d[i+3] && (d[i] < 235 || d[i+1] < 235 || d[i+2] < 235)) ink++; }
return ink;"""


def _driver(tmp_path: Path):
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not chromedriver:
        pytest.fail(f"the browser test needs Debian's chromium and chromedriver on PATH (found chromium={chromium}, "
                    f"chromedriver={chromedriver}): run {INSTALL} (as root) first", pytrace=False)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("the browser test needs selenium: .venv/bin/pip install -e '.[dev]'", pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1440,1000", "--lang=ko-KR", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=chromedriver, log_output=str(tmp_path / "chromedriver.log")),
                            options=options)


def _probe(driver, name: str):
    return driver.execute_script(f"return window.koabus ? window.koabus.{name} : null")


def test_dashboard_in_chromium(tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    driver = _driver(tmp_path)
    broker = BrokerProcess(speed=20, log_path=tmp_path / "broker.log")
    web = None
    try:
        broker.start()
        web = WebProcess(broker.router, broker.pub, tmp_path).start()
        driver.get(web.url)
        assert "koabus" in driver.title
        WebDriverWait(driver, 10, 0.05).until(lambda d: (_probe(d, "quoteUpdates") or 0) > 0 and not _probe(d, "stale"),
                                              "no live prices on the page")
        names = driver.find_element("id", "watchlist").text
        assert "삼성전자" in names and "SK하이닉스" in names

        seen = _probe(driver, "quoteUpdates")
        WebDriverWait(driver, 2, 0.05).until(lambda d: _probe(d, "quoteUpdates") > seen,
                                             "prices did not update within 2 s")
        WebDriverWait(driver, 5, 0.05).until(  # 86,200: digits with separators
            lambda d: re.fullmatch(r"\d{1,3}(,\d{3})+", d.find_element("css selector", "#w-005930 .price").text),
            "no price with separators for 005930")

        WebDriverWait(driver, 10, 0.1).until(lambda d: (_probe(d, "barsDrawn") or 0) > 0, "the chart drew no bars")
        assert driver.execute_script(CHART_INK_JS) > 500  # candles and volume, not a blank canvas
        WebDriverWait(driver, 5, 0.1).until(
            lambda d: len(d.find_elements("css selector", "#book td.price")) >= 20, "no order book")
        assert not driver.find_element("id", "order-form").is_displayed()  # trading is off

        broker.kill9()
        WebDriverWait(driver, 15, 0.1).until(lambda d: _probe(d, "stale"), "the page did not show stale data")
        assert "STALE" in driver.find_element("id", "badge").text

        router_port, pub_port = (int(ep.rsplit(":", 1)[1]) for ep in (broker.router, broker.pub))
        broker = BrokerProcess(speed=20, router_port=router_port, pub_port=pub_port,
                               log_path=tmp_path / "broker2.log").start()
        seen = _probe(driver, "quoteUpdates")
        WebDriverWait(driver, 20, 0.1).until(lambda d: not _probe(d, "stale") and _probe(d, "quoteUpdates") > seen,
                                             "the page did not come back after the broker restart")
        assert driver.find_element("id", "badge").text == "LIVE"
        WebDriverWait(driver, 10, 0.1).until(  # the new broker's own heartbeat, not the old one's last
            lambda d: d.find_elements("xpath", "//tbody[@id='health']/tr[td[1]='broker']/td[2][@class='state-ok']"),
            "no live broker heartbeat in the health table")

        shot = tmp_path / "web.png"
        assert driver.save_screenshot(str(shot))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, ARTIFACTS / "web.png")
    except Exception:
        if web is not None:
            print("---- web log ----\n" + web.log_tail())
        raise
    finally:
        driver.quit()
        if web is not None:
            web.stop()
        broker.stop()
