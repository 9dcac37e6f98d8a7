"""The field app's shell in a real browser at a phone's size: weight, key, accessibility."""

from __future__ import annotations

from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

WEIGHT_BUDGET = 200_000  # bytes on the wire for the first load (issue: < 200 kB compressed)


def serious_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations of impact serious or critical on the page as it is now."""
    results = Axe().run(page)
    return [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


def test_first_load_weighs_under_the_budget(phone: Page, api_url: str) -> None:
    sizes: dict[str, int] = {}
    encodings: dict[str, str | None] = {}

    def record(response: Any) -> None:
        sizes[response.url] = response.request.sizes()["responseBodySize"]
        encodings[response.url] = response.headers.get("content-encoding")

    phone.on("response", record)
    phone.goto(f"{api_url}/app/", wait_until="networkidle")
    expect(phone.get_by_role("heading", level=2)).to_be_visible()
    names = {url.rsplit("/", 1)[-1] for url in sizes}
    assert {"", "app.js", "api.js", "i18n.js", "style.css"} <= names  # the whole shell loaded
    total = sum(sizes.values())
    print(f"field app first load: {total} bytes transferred over {len(sizes)} responses")
    assert 0 < total < WEIGHT_BUDGET
    assert encodings[f"{api_url}/app/app.js"] == "gzip"  # compressed on the wire


def test_a_key_is_checked_and_kept_on_the_phone(phone: Page, api_url: str, admin_key: str) -> None:
    phone.goto(f"{api_url}/app/")
    phone.get_by_label("Clé API").fill(admin_key)
    phone.get_by_role("button", name="Enregistrer la clé").click()
    expect(phone.get_by_role("status")).to_contain_text("Clé acceptée : browser-admin, rôle admin")
    phone.reload()  # with a key kept, the app opens on the installation form
    expect(phone.get_by_role("heading", name="Installer un capteur")).to_be_visible()
    phone.get_by_role("link", name="Clé").click()
    expect(phone.get_by_label("Clé API")).to_have_value(admin_key)  # kept on the device


def test_a_wrong_key_is_refused_in_plain_words(phone: Page, api_url: str) -> None:
    phone.goto(f"{api_url}/app/")
    phone.get_by_label("Clé API").fill("icone_0000000000000000_nope")
    phone.get_by_role("button", name="Enregistrer la clé").click()
    expect(phone.get_by_role("alert")).to_contain_text("Clé refusée")


def test_english_is_one_tap_away(phone: Page, api_url: str) -> None:
    phone.goto(f"{api_url}/app/")
    phone.get_by_role("button", name="English").click()
    expect(phone.get_by_label("API key")).to_be_visible()
    expect(phone.get_by_role("link", name="Install")).to_be_visible()


def test_shell_and_register_page_are_accessible(phone: Page, api_url: str, admin_key: str) -> None:
    phone.goto(f"{api_url}/app/")
    assert serious_violations(phone) == []
    phone.get_by_label("Clé API").fill(admin_key)
    phone.get_by_role("button", name="Enregistrer la clé").click()
    phone.get_by_role("link", name="Installer").click()
    expect(phone.get_by_label("Modèle")).to_be_visible()
    assert serious_violations(phone) == []


def test_keyboard_reaches_the_controls_with_a_visible_focus(phone: Page, api_url: str) -> None:
    # from a fresh load: the first Tab stops are the skip link and the language switch
    phone.goto(f"{api_url}/app/#/key")
    expect(phone.get_by_label("Clé API")).to_be_visible()
    phone.keyboard.press("Tab")
    focused = phone.evaluate("document.activeElement.className")
    assert focused == "skip"
    phone.keyboard.press("Tab")
    outline = phone.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")
    assert phone.evaluate("document.activeElement.id") == "lang"
    for _ in range(4):  # the three section links, then the key field
        phone.keyboard.press("Tab")
    assert phone.evaluate("document.activeElement.id") == "api-key"
