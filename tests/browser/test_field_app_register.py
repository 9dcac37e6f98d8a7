"""A technician's installation in a real browser at a phone's size, end to end: the TR005
label read, the form sent, ChirpStack provisioned (an in-process chirpstack-api gRPC server:
ChirpStack itself cannot run here), then the join and first uplink published through the real
broker, bridge and database, and seen live on the phone. Also bad input and a cut connection."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import grpc
import psycopg
import pytest
from playwright.sync_api import Page, expect

from hardware.chirpstack_events import encode_event, join_event, topic_for, uplink_event
from hardware.encoders import ENCODERS
from hardware.state import PhysicalState
from icone.embedded import RunningService, free_port
from icone.runtime import running_api
from registry.chirpstack import ChirpStackSettings
from storage import apikeys
from storage.appkey_cipher import AppKeyCipher
from storage.registry import SiteSpec, upsert_sites
from tests.browser.conftest import screenshot
from tests.registry.chirpstack_fake import APPLICATION, TENANT, TOKEN, State, chirpstack_server
from tests.system.helpers import bridge, bridge_config, now, publish, publisher

# The TR005 specification's example label: JoinEUI 1122334455667788, DevEUI AABBCCDDEEFF0011.
LABEL = "LW:D0:1122334455667788:AABBCCDDEEFF0011:AABB1122:OAABBCCDDEEFF:SYYWWNNNNNN:PFOOBAR:CAF2C"
DEV = "aabbccddeeff0011"
MODEL = "milesight-em300-th"
APP_KEY = "2B7E151628AED2A6ABF7158809CF4F3C"
SITE = "datacenter-metropole"


class Api:
    """The API on a fixed port, stoppable and restartable (a connection cut for real)."""

    def __init__(self, database: str, chirpstack: ChirpStackSettings, cipher: AppKeyCipher) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._args = (database, chirpstack, cipher)
        self._stack: ExitStack | None = None

    def start(self) -> None:
        database, chirpstack, cipher = self._args
        self._stack = ExitStack()
        self._stack.enter_context(
            running_api(
                database, "127.0.0.1", self.port, chirpstack=chirpstack, appkey_cipher=cipher
            )
        )

    def stop(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None


@pytest.fixture
def chirpstack() -> Iterator[tuple[ChirpStackSettings, State]]:
    with chirpstack_server() as (url, state):
        settings = ChirpStackSettings(
            url=url, api_token=TOKEN, tenant_id=TENANT, application_id=APPLICATION
        )
        yield settings, state


@pytest.fixture
def api(
    database: str, chirpstack: tuple[ChirpStackSettings, State], appkey_cipher: AppKeyCipher
) -> Iterator[Api]:
    with psycopg.connect(database) as conn:
        upsert_sites(conn, [SiteSpec(SITE, "Datacenter métropolitain", "datacenter")])
    server = Api(database, chirpstack[0], appkey_cipher)
    server.start()
    yield server
    server.stop()


def _technician(database: str, sites: list[str] | None) -> str:
    with psycopg.connect(database) as conn:
        return apikeys.create_key(conn, name="tech-anne", role="technician", site_ids=sites)


def _open_form(phone: Page, api: Api, key: str) -> None:
    phone.goto(f"{api.url}/app/#/key")
    phone.get_by_label("Clé API").fill(key)
    phone.get_by_role("button", name="Enregistrer la clé").click()
    expect(phone.get_by_role("status")).to_contain_text("Clé acceptée")
    phone.get_by_role("link", name="Installer").click()
    expect(phone.get_by_label("Modèle")).to_be_visible()


def _fill_device(phone: Page, dev_eui: str | None = None) -> None:
    if dev_eui is None:
        phone.get_by_label("Code QR (LW:D0:…)").fill(LABEL)
        phone.get_by_role("button", name="Lire le code").click()
        expect(phone.get_by_label("DevEUI (16 caractères hexadécimaux)")).to_have_value(DEV)
    else:
        phone.get_by_label("DevEUI (16 caractères hexadécimaux)").fill(dev_eui)
    phone.get_by_label("AppKey (32 caractères hexadécimaux)").fill(APP_KEY)
    phone.get_by_label("Modèle").select_option(MODEL)
    expect(phone.get_by_role("heading", name="Consignes de pose")).to_be_visible()
    phone.get_by_label("Site", exact=True).select_option(SITE)
    phone.get_by_label("Emplacement précis").fill("baie B4, allée froide, 1,1 m")
    phone.get_by_label("Rôle du capteur").select_option("rack_inlet")


def _events(dev_eui: str) -> list[tuple[str, bytes]]:
    rng = random.Random(5)
    state = PhysicalState(time=now(), temperature=23.4, relative_humidity=41.5, battery_level=87)
    f_port, payload = ENCODERS[MODEL].encode(state)
    up: dict[str, Any] = uplink_event(
        dev_eui=dev_eui,
        model=MODEL,
        f_port=f_port,
        payload=payload,
        time=state.time,
        f_cnt=1,
        rng=rng,
    )
    up["deviceInfo"]["tags"] = {}  # the model comes from our registry
    # one gateway with hand-checked figures: SF7, SNR 6.5 dB, RSSI -85 dBm -> "good"
    up["rxInfo"] = [{**up["rxInfo"][0], "gatewayId": "0016c001ff1a2b00", "rssi": -85, "snr": 6.5}]
    join = join_event(dev_eui=dev_eui, model=MODEL, time=now(), rng=rng)
    return [
        (topic_for(dev_eui, "join"), encode_event(join, False, "join")),
        (topic_for(dev_eui), encode_event(up, False)),
    ]


def test_register_from_a_label_and_watch_it_come_alive(
    phone: Page,
    api: Api,
    database: str,
    broker: RunningService,
    chirpstack: tuple[ChirpStackSettings, State],
    request: pytest.FixtureRequest,
) -> None:
    _open_form(phone, api, _technician(database, [SITE]))
    _fill_device(phone)
    screenshot(phone, request, "1-form")
    phone.get_by_role("button", name="Enregistrer le capteur").click()

    expect(phone.get_by_role("heading", name=f"Vérifier le capteur {DEV}")).to_be_visible()
    expect(phone.get_by_text("Créé dans ChirpStack")).to_be_visible()
    expect(phone.get_by_text("En attente du capteur")).to_be_visible()
    screenshot(phone, request, "2-waiting")
    assert [r.device.dev_eui for r in chirpstack[1].requests("DeviceService.Create")] == [DEV]

    client = publisher(broker.url)
    with bridge(bridge_config(broker.url), database):
        for topic, payload in _events(DEV):
            publish(client, topic, payload)
        # pushed by the live stream: no reload, no click
        expect(phone.get_by_text("Le capteur fonctionne")).to_be_visible(timeout=20_000)
    screenshot(phone, request, "3-alive")
    expect(phone.locator("li.done", has_text="Join reçu")).to_be_visible()
    expect(phone.locator("li.done", has_text="Première mesure reçue")).to_be_visible()
    expect(phone.get_by_role("cell", name="temperature")).to_be_visible()
    expect(phone.get_by_role("cell", name="23.4 °C")).to_be_visible()
    expect(phone.locator(".badge.good")).to_have_text("bonne")
    expect(phone.get_by_text("RSSI -85 dBm, SNR 6.5 dB, SF7")).to_be_visible()

    phone.get_by_role("link", name="Mes capteurs").click()
    item = phone.locator("li.card", has_text=DEV)
    expect(item).to_contain_text("en bonne santé")


def test_bad_input_is_shown_on_the_field_at_fault(
    phone: Page,
    api: Api,
    database: str,
    chirpstack: tuple[ChirpStackSettings, State],
    request: pytest.FixtureRequest,
) -> None:
    _open_form(phone, api, _technician(database, None))
    dev_eui = phone.get_by_label("DevEUI (16 caractères hexadécimaux)")
    submit = phone.get_by_role("button", name="Enregistrer le capteur")

    _fill_device(phone, dev_eui="12345")  # too short
    submit.click()
    expect(dev_eui).to_have_attribute("aria-invalid", "true")
    expect(phone.locator("#dev-eui-error")).to_be_visible()
    screenshot(phone, request, "1-bad-deveui")

    dev_eui.fill(DEV)  # a site that no longer exists (the phone's list was stale)
    phone.evaluate(
        """document.getElementById('site').append(new Option('Ancien site', 'site-demoli'));
           document.getElementById('site').value = 'site-demoli';"""
    )
    submit.click()
    expect(phone.get_by_label("Site", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(phone.locator("#site-error")).to_contain_text("site-demoli")
    phone.get_by_label("Site", exact=True).select_option(SITE)

    # ChirpStack refuses the device: its field comes back on our field
    chirpstack[1].fail("DeviceService.Create", grpc.StatusCode.INVALID_ARGUMENT, "invalid dev_eui")
    submit.click()
    expect(dev_eui).to_have_attribute("aria-invalid", "true")
    expect(phone.locator("#dev-eui-error")).to_contain_text("ChirpStack")
    screenshot(phone, request, "2-chirpstack-refused")

    submit.click()  # accepted now
    expect(phone.get_by_role("heading", name=f"Vérifier le capteur {DEV}")).to_be_visible()

    phone.get_by_role("link", name="Installer").click()  # the same device again
    _fill_device(phone, dev_eui=DEV)
    submit.click()
    expect(phone.get_by_role("alert")).to_contain_text("déjà enregistré")
    screenshot(phone, request, "3-duplicate")


def test_a_cut_connection_is_survived(
    phone: Page,
    api: Api,
    database: str,
    broker: RunningService,
    request: pytest.FixtureRequest,
) -> None:
    _open_form(phone, api, _technician(database, [SITE]))
    _fill_device(phone)
    phone.get_by_role("button", name="Enregistrer le capteur").click()
    expect(phone.get_by_text("En attente du capteur")).to_be_visible()

    api.stop()  # the stream breaks; the page keeps its last state and says so
    expect(phone.locator("#net")).to_contain_text("Hors connexion")
    expect(phone.get_by_text("En attente du capteur")).to_be_visible()
    screenshot(phone, request, "1-cut")
    client = publisher(broker.url)
    with bridge(bridge_config(broker.url), database):
        for topic, payload in _events(DEV):
            publish(client, topic, payload)
        api.start()  # back: the page picks the stream up again by itself
        expect(phone.get_by_text("Le capteur fonctionne")).to_be_visible(timeout=30_000)
    screenshot(phone, request, "2-recovered")
