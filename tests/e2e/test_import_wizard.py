"""The import wizard in headless Chromium: a bundle made by the gather engine from the
session VictoriaMetrics is dropped into the wizard and imported into a second, empty one
(shift to now, cancel, resume, verification); plus the error states. Screenshots of every
step go to ``test-artifacts/e2e/import-*.png``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from integration.ui.test_import_api import SlowProxy, _target_samples, gather_bundle
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
)
from support.servers import VMAuthServer, VMServer

pytestmark = pytest.mark.e2e
__all__ = ["browser", "console", "page", "page_errors", "playwright_instance"]


def _heading(page: Page, name: str) -> None:
    expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()


def _next(page: Page) -> None:
    page.locator("section.istep:not([hidden]) button.next").click()


def _fits_a_phone(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways on a phone ({width}px)"


def _open_import(page: Page, console: ConsoleServer) -> None:
    page.goto(console.url)
    _heading(page, "What do you want to export?")
    page.get_by_role("button", name="Import a bundle").click()
    _heading(page, "Choose a bundle to import")
    expect(page.locator("#imp-step-label")).to_contain_text("Import step 1 of 6")


def test_import_wizard_shift_now_cancel_resume_verify(
    page: Page,
    console: ConsoleServer,
    vm: VMServer,
    vm_factory: Callable[..., VMServer],
    tmp_path: Path,
    page_errors: PageErrors,
) -> None:
    tag = "impwiz_" + uuid.uuid4().hex[:8]
    bundle, samples = gather_bundle(vm, tmp_path, tag)
    target = vm_factory()
    proxy = SlowProxy(target.url, delay_s=0.3).start()
    try:
        _open_import(page, console)
        save_screenshot(page, "import-1-bundle")
        page.get_by_label("Bundle file").set_input_files(bundle)
        expect(page.locator("#imp-upload-status")).to_contain_text(f"Uploaded {bundle.name}")
        expect(page.locator("#imp-upload-status")).to_contain_text("with a checksum")
        expect(page.get_by_role("radio", name=re.compile(re.escape(bundle.name)))).to_be_checked()
        save_screenshot(page, "import-1-bundle-uploaded")
        _next(page)

        _heading(page, "Connect to the VictoriaMetrics to import into")
        expect(page.locator("#imp-connection button.next")).to_be_disabled()
        page.get_by_label("Server URL").fill(proxy.url)
        page.get_by_role("button", name="Test connection").click()
        expect(page.locator("#result").get_by_role("heading", name="Connected")).to_be_visible()
        save_screenshot(page, "import-2-target")
        _next(page)

        _heading(page, "What the bundle holds")
        facts = page.locator("#imp-pre-facts")
        expect(facts).to_contain_text("30")
        expect(facts).to_contain_text(f"{samples:,}")
        expect(facts).to_contain_text("the server's setting")  # retention from the real VM
        expect(page.locator("#imp-label-table")).to_contain_text("instance")
        save_screenshot(page, "import-3-preflight")
        _next(page)

        _heading(page, "Where the samples land in time")
        page.get_by_role("radio", name=re.compile("^Shift so the last sample is now")).check()
        estimate = page.locator("#imp-estimate-result")
        expect(estimate).to_contain_text("No sample falls outside the target's retention")
        page.get_by_text("More options").click()
        page.get_by_label("Upload chunk size").select_option("16")
        save_screenshot(page, "import-4-alignment")
        page.get_by_role("button", name="Start import").click()

        expect(page.locator("#imp-run-text")).to_contain_text(re.compile(r"[1-9]\d* / \d+ chunks"))
        expect(page.locator("#imp-run-facts")).to_contain_text("Time left")
        save_screenshot(page, "import-5-running")
        page.get_by_role("button", name="Cancel").click()
        _heading(page, "Import canceled")
        expect(page.locator("#imp-run-text")).to_contain_text("Stopped at")
        progress = float(page.locator("#imp-progress").evaluate("bar => bar.value"))
        assert 0 < progress < 1
        save_screenshot(page, "import-5-canceled")
        page.get_by_role("button", name="Resume import").click()

        # the target only shows samples older than its -search.latencyOffset (30 s)
        done = page.get_by_role("heading", name="Import finished", exact=True)
        expect(done).to_be_visible(timeout=90_000)
        verdict = page.locator("#imp-verdict")
        expect(verdict).to_contain_text("Verified: the target shows what was sent.")
        expect(page.locator("#imp-check-table")).to_contain_text(f"{tag}_load")
        expect(page.locator("#imp-done-facts")).to_contain_text("Resumed from chunk")
        save_screenshot(page, "import-6-verified")

        # back to the start: the upload can be removed from the staging folder
        page.get_by_role("button", name="Import another bundle").click()
        _heading(page, "Choose a bundle to import")
        page.get_by_role("button", name=f"Remove the uploaded {bundle.name}").click()
        expect(page.locator("#imp-upload-status")).to_contain_text(f"Removed {bundle.name}")
        expect(page.get_by_role("radio", name=re.compile(re.escape(bundle.name)))).to_have_count(0)
    finally:
        proxy.stop()
    landed = _target_samples(target.url, f'{{__name__="{tag}_load"}}')
    assert len(landed) == samples
    assert page_errors.messages == []


def test_import_wizard_error_states_on_a_phone(
    page: Page,
    console: ConsoleServer,
    vm: VMServer,
    vmauth: VMAuthServer,
    page_errors: PageErrors,
) -> None:
    tag = "imperr_" + uuid.uuid4().hex[:8]
    bundle, _ = gather_bundle(vm, console.output_dir, tag, series=2)
    page.set_viewport_size(PHONE)
    page.goto(console.url)
    page.get_by_role("button", name="Import a bundle").focus()
    page.keyboard.press("Enter")  # the switch works from the keyboard
    _heading(page, "Choose a bundle to import")

    # a corrupt file: the upload is refused with what went wrong and what to do
    page.get_by_label("Bundle file").set_input_files(
        {"name": "broken.zip", "mimeType": "application/zip", "buffer": b"PK\x03\x04 broken"}
    )
    alert = page.locator("#imp-upload-error")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("zip")
    expect(alert.locator(".hint")).not_to_be_empty()
    expect(page.locator("#imp-bundle button.next")).to_be_disabled()
    page.get_by_role("button", name="Refresh list").click()
    expect(page.locator("#imp-bundle-list")).to_contain_text(bundle.name)
    save_screenshot(page, "import-error-corrupt-file-phone")
    _fits_a_phone(page)

    # the bundle gather wrote into the output folder is listed; pick it with the keyboard
    radio = page.get_by_role("radio", name=re.compile(re.escape(bundle.name)))
    radio.focus()
    page.keyboard.press("Space")
    expect(radio).to_be_checked()
    _next(page)

    # vmauth with a wrong password: the connection card says so, Next stays disabled
    _heading(page, "Connect to the VictoriaMetrics to import into")
    page.get_by_label("Server URL").fill(vmauth.tenant_base())
    page.get_by_label("Authentication").select_option("basic")
    page.get_by_label("Username").fill(vmauth.username)
    page.get_by_label("Password").fill("wrong-pass-word")
    page.get_by_role("button", name="Test connection").click()
    result = page.locator("#result")
    expect(result.get_by_role("heading", name="Connection failed")).to_be_visible()
    expect(result).not_to_contain_text("wrong-pass-word")
    expect(page.locator("#imp-connection button.next")).to_be_disabled()
    save_screenshot(page, "import-error-wrong-password-phone")
    _fits_a_phone(page)

    # the gather wizard gets its connection card back
    page.get_by_role("button", name="Create a bundle").click()
    _heading(page, "What do you want to export?")
    assert page.locator("#step-connection #connection-form").count() == 1
    assert page_errors.messages == []
