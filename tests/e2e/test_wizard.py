"""The support-bundle wizard in headless Chromium against the real VictoriaMetrics/vmauth.

Each test walks the wizard like a user (labels, buttons, keyboard), saving a screenshot of
every step under ``test-artifacts/e2e/``.
"""

from __future__ import annotations

import hashlib
import re
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from integration.ui.cluster_data import SeededCluster, seed_cluster
from support.browser import (  # the fixtures are imported to register them here
    PHONE,
    ConsoleServer,
    PageErrors,
    browser,
    console,
    page,
    page_errors,
    playwright_instance,
    save_screenshot,
    start_console,
)
from support.servers import VMAuthServer, VMServer, free_port

pytestmark = pytest.mark.e2e
__all__ = ["browser", "console", "page", "page_errors", "playwright_instance"]


@pytest.fixture(scope="module")
def data(vm: VMServer) -> SeededCluster:
    return seed_cluster(vm, "wiz")


@pytest.fixture(scope="module")
def slow_console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    """A console whose exports wait 0.25 s per window, so a test can cancel one mid-way."""
    server = start_console(tmp_path_factory.mktemp("slow-console"), export_delay_s=0.25)
    yield server
    server.stop()


def _heading(page: Page, name: str, *, timeout_ms: float = 5_000) -> None:
    expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible(timeout=timeout_ms)


def _next(page: Page) -> None:
    page.locator("section.step:not([hidden]) button.next").click()


def _to_connection(page: Page, console: ConsoleServer, *, custom: bool, shot: str) -> None:
    page.goto(console.url)
    _heading(page, "What do you want to export?")
    expect(page.locator("#step-label")).to_contain_text("Step 1 of")
    if custom:
        page.get_by_role("radio", name=re.compile(r"^Selector or query")).check()
    save_screenshot(page, f"{shot}-1-mode")
    _next(page)
    _heading(page, "Time range")
    page.get_by_role("button", name="Last 1 h").click()
    save_screenshot(page, f"{shot}-2-time")
    _next(page)
    _heading(page, "Connect to your metrics server")


def _connect(page: Page, url: str, shot: str) -> None:
    page.get_by_label("Server URL").fill(url)
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#result").get_by_role("heading", name="Connected")).to_be_visible()
    save_screenshot(page, f"{shot}-3-connection")
    _next(page)


def _preview_is_obfuscated(page: Page, data: SeededCluster, shot: str) -> None:
    _heading(page, "Obfuscation and preview")
    table = page.locator("#preview-table")
    expect(table).to_be_visible()
    expect(page.locator("#preview-status")).to_contain_text("obfuscated as in the bundle")
    expect(table).to_contain_text('instance="777.777.')
    text = table.inner_text()
    leaked = [original for original in data.originals if original in text]
    assert leaked == [], f"preview shows original values: {leaked}"
    save_screenshot(page, f"{shot}-5-obfuscation-preview")


def _finish_and_download(
    page: Page, console: ConsoleServer, data: SeededCluster, shot: str, *, wait_ms: float = 5_000
) -> None:
    _heading(page, "Your support bundle is ready", timeout_ms=wait_ms)
    facts = page.locator("#done-facts")
    sha = facts.locator("dt:text-is('SHA-256') + dd").inner_text()
    assert re.fullmatch(r"[0-9a-f]{64}", sha)
    saved = Path(facts.locator("dt:text-is('Saved at') + dd").inner_text())
    assert saved.parent == console.output_dir and saved.is_file()
    save_screenshot(page, f"{shot}-7-done")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download bundle").click()
    downloaded = Path(info.value.path())
    assert info.value.suggested_filename == saved.name
    assert hashlib.sha256(downloaded.read_bytes()).hexdigest() == sha
    sidecar = saved.with_name(saved.name + ".sha256").read_text()
    assert sidecar.split()[0] == sha
    with zipfile.ZipFile(downloaded) as zf:
        content = b"".join(zf.read(name) for name in zf.namelist()).decode()
    leaked = [original for original in data.originals if original in content]
    assert leaked == [], f"bundle contains original values: {leaked}"
    expect(page.locator("#download-status")).to_contain_text("Downloaded")


def test_wizard_cluster_mode_end_to_end(
    page: Page, console: ConsoleServer, vm: VMServer, data: SeededCluster, page_errors: PageErrors
) -> None:
    _to_connection(page, console, custom=False, shot="wizard-cluster")
    _connect(page, vm.url, "wizard-cluster")

    _heading(page, "Choose what to export")
    storage = page.locator(f'input[data-job="{data.storage_job}"]')
    expect(storage).to_be_checked()
    expect(page.locator("#select-list")).to_contain_text("2 instances · ~8 series")
    page.get_by_role("button", name="Clear").click()
    _next(page)  # empty selection: refused with what to do
    expect(page.locator("#select-error")).to_contain_text("Nothing selected")
    save_screenshot(page, "wizard-cluster-4-empty-selection-error")
    storage.check()
    page.locator(f'input[data-job="{data.select_job}"]').check()
    expect(page.locator("#select-summary")).to_contain_text("2 jobs selected")
    save_screenshot(page, "wizard-cluster-4-selection")
    _next(page)

    _preview_is_obfuscated(page, data, "wizard-cluster")
    page.get_by_role("button", name="Start export").click()
    _finish_and_download(page, console, data, "wizard-cluster")
    assert page_errors.messages == []


def test_wizard_selector_mode_cancel_and_resume(
    page: Page,
    slow_console: ConsoleServer,
    vm: VMServer,
    data: SeededCluster,
    page_errors: PageErrors,
) -> None:
    console = slow_console  # 120 windows x 0.25 s: time to see the ETA and cancel
    _to_connection(page, console, custom=True, shot="wizard-selector")
    _connect(page, vm.url, "wizard-selector")

    _heading(page, "Selector or query")
    next_button = page.locator("#step-query button.next")
    expect(next_button).to_be_disabled()
    page.get_by_label("Expression").fill(data.app_metric)
    page.get_by_role("button", name="Check").click()
    expect(page.locator("#query-result")).to_contain_text("Matches 4 series")
    save_screenshot(page, "wizard-selector-4-query")
    _next(page)

    _heading(page, "Choose what to export")
    for job in data.app_jobs:
        expect(page.locator(f'input[data-job="{job}"]')).to_be_checked()
    save_screenshot(page, "wizard-selector-4-selection")
    _next(page)

    _preview_is_obfuscated(page, data, "wizard-selector")
    page.get_by_label("Request window").select_option("30s")
    page.get_by_role("button", name="Start export").click()
    # cancel mid-way: once some of the 120 windows are staged
    expect(page.locator("#export-text")).to_contain_text(re.compile(r"[1-9]\d* / 120 windows"))
    expect(page.locator("#export-facts")).to_contain_text("Time left")  # the ETA
    save_screenshot(page, "wizard-selector-6-running")
    page.get_by_role("button", name="Cancel").click()
    _heading(page, "Export canceled")
    expect(page.locator("#export-text")).to_contain_text("Stopped at")
    progress = float(page.locator("#export-progress").evaluate("bar => bar.value"))
    assert 0 < progress < 1
    save_screenshot(page, "wizard-selector-6-canceled")
    page.get_by_role("button", name="Resume export").click()
    # the remaining windows at 0.25 s each, with room for a slow machine
    _finish_and_download(page, console, data, "wizard-selector", wait_ms=90_000)
    expect(page.locator("#done-facts")).to_contain_text("Samples")
    assert page_errors.messages == []


def test_wizard_query_mode_on_a_phone(
    page: Page, console: ConsoleServer, vm: VMServer, data: SeededCluster, page_errors: PageErrors
) -> None:
    page.set_viewport_size(PHONE)
    _to_connection(page, console, custom=True, shot="wizard-query-390x844")
    _connect(page, vm.url, "wizard-query-390x844")
    page.get_by_label("MetricsQL / PromQL query").check()
    page.get_by_label("Expression").fill(f"sum by (job, instance) ({data.app_metric})")
    page.get_by_role("button", name="Check").click()
    expect(page.locator("#query-result")).to_contain_text("Matches 4 series")
    save_screenshot(page, "wizard-query-390x844-4-query")
    _next(page)  # a query has no job selection step
    _preview_is_obfuscated(page, data, "wizard-query-390x844")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"horizontal scrolling at 390px: {width}px wide"
    page.get_by_role("button", name="Start export").click()
    _finish_and_download(page, console, data, "wizard-query-390x844")
    assert page_errors.messages == []


def test_wizard_connection_errors_say_what_to_do(
    page: Page, console: ConsoleServer, vmauth: VMAuthServer, page_errors: PageErrors
) -> None:
    _to_connection(page, console, custom=False, shot="wizard-errors")
    url = page.get_by_label("Server URL")
    next_button = page.locator("#step-connection button.next")

    url.fill("ftp://not-a-metrics-server")
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#result-error")).to_contain_text("unsupported scheme")
    expect(page.locator("#result-hint")).to_be_visible()
    save_screenshot(page, "wizard-errors-3-bad-url")

    url.fill(f"http://127.0.0.1:{free_port()}")
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#result-error")).to_contain_text("cannot connect")
    expect(next_button).to_be_disabled()
    save_screenshot(page, "wizard-errors-3-unreachable")

    url.fill(vmauth.tenant_base())
    page.select_option("#auth-type", "basic")
    page.get_by_label("Username").fill(vmauth.username)
    page.get_by_label("Password").fill("wrong-password-123")
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#result").get_by_role("heading", name="Connection failed")).to_be_visible()
    expect(page.locator("#result-hint")).to_contain_text("password")
    assert "wrong-password-123" not in page.locator("#result").inner_text()
    expect(next_button).to_be_disabled()
    save_screenshot(page, "wizard-errors-3-bad-password")

    page.get_by_label("Password").fill(vmauth.password)
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#result").get_by_role("heading", name="Connected")).to_be_visible()
    expect(next_button).to_be_enabled()
    assert page_errors.messages == []


def test_wizard_is_keyboard_usable_with_visible_focus(page: Page, console: ConsoleServer) -> None:
    page.goto(console.url)
    page.get_by_role("radio", name=re.compile(r"^Cluster metrics")).focus()
    page.keyboard.press("ArrowDown")  # radio group: arrow keys move the choice
    expect(page.get_by_role("radio", name=re.compile(r"^Selector or query"))).to_be_checked()
    page.keyboard.press("Tab")
    next_button = page.locator("#step-mode button.next")
    expect(next_button).to_be_focused()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none"), "focused control has no visible outline"
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Time range")).to_be_focused()
    expect(page.locator("#step-label")).to_have_text("Step 2 of 8: Time range")
    save_screenshot(page, "wizard-keyboard-2-time")


def test_wizard_renders_hostile_label_values_as_text(
    page: Page, console: ConsoleServer, vm: VMServer, page_errors: PageErrors
) -> None:
    hostile_job = "<img src=x onerror=window.__pwned=1>"
    end = (int(time.time()) - 120) * 1000
    vm.seed(
        "wizx_hostile",
        {
            "job": hostile_job,
            "instance": "<b>bold</b>:1",
            "note": "<script>window.__pwned=2</script>",
        },
        [1.0] * 5,
        [end - i * 15_000 for i in range(5)],
    )
    _to_connection(page, console, custom=True, shot="wizard-xss")
    _connect(page, vm.url, "wizard-xss")
    page.get_by_label("Expression").fill("wizx_hostile")
    page.get_by_role("button", name="Check").click()
    expect(page.locator("#query-result")).to_contain_text("Matches 1 series")
    _next(page)
    expect(page.locator("#select-list")).to_contain_text(hostile_job)
    _next(page)
    page.get_by_label("Obfuscate the bundle").uncheck()  # show the raw values
    expect(page.locator("#preview-status")).to_contain_text("NOT obfuscated")
    expect(page.locator("#preview-table")).to_contain_text("<script>window.__pwned=2</script>")
    save_screenshot(page, "wizard-xss-5-preview-as-text")
    assert page.locator("main img, main script, main b").count() == 0
    assert page.evaluate("window.__pwned") is None
    assert page_errors.messages == []


@pytest.mark.parametrize(
    ("wall", "zone", "utc"),
    [
        ("2026-01-15T10:00", "UTC", "2026-01-15T10:00:00.000Z"),
        ("2026-01-15T10:00", "Europe/Paris", "2026-01-15T09:00:00.000Z"),
        ("2026-07-15T10:00", "Europe/Paris", "2026-07-15T08:00:00.000Z"),
        ("2026-07-15T10:00", "America/New_York", "2026-07-15T14:00:00.000Z"),
        ("2026-01-15T10:00", "Asia/Kolkata", "2026-01-15T04:30:00.000Z"),
    ],
)
def test_wizard_time_zone_wall_time_converts_to_utc(
    page: Page, console: ConsoleServer, wall: str, zone: str, utc: str
) -> None:
    page.goto(console.url)
    got = page.evaluate(
        "([wall, zone]) => import('/static/timerange.js')"
        ".then(m => new Date(m.wallToInstant(wall, zone)).toISOString())",
        [wall, zone],
    )
    assert got == utc


def test_wizard_custom_range_in_a_time_zone_is_summarised(
    page: Page, console: ConsoleServer
) -> None:
    page.goto(console.url)
    _next(page)
    page.get_by_label("Time zone").select_option("UTC")
    page.get_by_label("From", exact=True).fill("2026-01-15T10:00")
    page.get_by_label("To", exact=True).fill("2026-01-15T11:30")
    expect(page.get_by_role("button", name="Last 1 h")).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#time-summary")).to_contain_text("(UTC)")
    page.get_by_label("To", exact=True).fill("2026-01-15T09:00")
    _next(page)
    expect(page.locator("#time-error")).to_contain_text("end must be after the start")
    save_screenshot(page, "wizard-time-2-bad-range")
