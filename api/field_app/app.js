// ICONE field app: register a sensor on site, watch it join and report, follow my installations.
// No framework: a few small views rendered with DOM calls (no innerHTML: nothing typed or
// received is ever parsed as HTML).
import { api, ApiError, key, NetworkError, stream } from "./api.js";
import { currentLang, setLang, t, when } from "./i18n.js";

const main = document.getElementById("main");
const net = document.getElementById("net");
const POLL_S = 5;
let leaveView = () => {};   // stops the current view's camera, stream or timer
let modelsCache = [];      // the catalogue, for the verify view's "make it transmit" hint

// h("p", {class: "hint"}, "text", child...) -> element
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "text") el.textContent = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) {
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }
  return el;
}

let navigated = false;   // focus moves to the new content after a navigation, not on load

// replaceChildren that flattens arrays and skips absent parts, as h() does
function fill(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

function show(...nodes) {
  fill(main, ...nodes);
  if (navigated) main.focus();
}

function staleBanner(at) {
  net.hidden = !at;
  if (at) net.textContent = t("net.offline", { when: when(at) });
}

function notice(text, kind = "") {
  return h("div", { class: `notice ${kind}`, role: kind === "bad" ? "alert" : "status" }, text);
}

// A plain-words message for any failure, with what to do next.
function explain(exc) {
  if (exc instanceof NetworkError) return t("err.network");
  if (!(exc instanceof ApiError)) return String(exc);
  const detail = typeof exc.body?.detail === "string" ? exc.body.detail : exc.message;
  if (exc.status === 401) return t("err.auth");
  if (exc.status === 403) return t("err.forbidden", { detail });
  if (exc.status === 404) return t("err.not_found", { detail });
  if (exc.status === 409) return t("err.exists", { detail });
  if (exc.status === 503) return t("err.provisioning");
  if (exc.status === 502) return t("err.chirpstack_refused", { detail });
  return t("err.server", { status: exc.status, request: exc.requestId });
}

// A labelled control; `error` ids tie the message to the field for screen readers.
function field(id, labelText, control, hint) {
  control.id = id;
  if (!control.name) control.name = id;
  const parts = [h("label", { for: id }, labelText)];
  if (hint) {
    parts.push(h("p", { class: "hint", id: `${id}-hint` }, hint));
    control.setAttribute("aria-describedby", `${id}-hint`);
  }
  parts.push(control, h("p", { class: "field-error", id: `${id}-error`, hidden: true }));
  return h("div", { class: "field" }, parts);
}

function setFieldErrors(form, errors) {
  for (const p of form.querySelectorAll(".field-error")) { p.hidden = true; p.textContent = ""; }
  for (const c of form.querySelectorAll("[aria-invalid]")) c.removeAttribute("aria-invalid");
  let first = null;
  for (const [name, message] of Object.entries(errors)) {
    const control = form.querySelector(`#${CSS.escape(name)}`);
    const out = form.querySelector(`#${CSS.escape(name)}-error`);
    if (!control || !out) continue;
    control.setAttribute("aria-invalid", "true");
    control.setAttribute("aria-describedby", `${name}-error`);
    out.textContent = message;
    out.hidden = false;
    first = first || control;
  }
  return first;
}

// ---- key ----------------------------------------------------------------------------------
function viewKey() {
  const input = h("input", { type: "password", autocomplete: "off", spellcheck: "false",
    value: key.get() || "" });
  const out = h("div", { "aria-live": "polite" });
  const form = h("form", {
    onsubmit: async (event) => {
      event.preventDefault();
      key.set(input.value);
      try {
        const me = await api.whoami();
        fill(out, notice(t("key.ok", { name: me.name, role: me.role,
          sites: me.site_ids ? me.site_ids.join(", ") : t("key.all_sites") }), "ok"));
      } catch (exc) {
        fill(out, notice(t("key.bad", { reason: explain(exc) }), "bad"));
      }
    },
  }, field("api-key", t("key.label"), input, t("key.help")),
  h("button", { type: "submit" }, t("key.save")),
  h("button", { type: "button", class: "secondary",
    onclick: () => { key.clear(); input.value = ""; fill(out); } }, t("key.forget")));
  show(h("h2", {}, t("key.title")), form, out);
}

// ---- register -----------------------------------------------------------------------------
// What one pulse of an input can count (the registry's pulse weights name a counter metric).
const PULSE_METRICS = { water_volume_index: "m³", energy_active_import_index: "kWh" };

function distanceKm(a, b) {
  const rad = Math.PI / 180;
  const dLat = (b.latitude - a.latitude) * rad;
  const dLon = (b.longitude - a.longitude) * rad;
  const s = Math.sin(dLat / 2) ** 2 +
    Math.cos(a.latitude * rad) * Math.cos(b.latitude * rad) * Math.sin(dLon / 2) ** 2;
  return 12742 * Math.asin(Math.sqrt(s));
}

async function viewRegister() {
  if (!key.get()) { show(notice(t("key.needed"), "bad")); location.hash = "#/key"; return; }
  const out = h("div", { "aria-live": "polite" });
  let models = [];
  let sites = [];
  try {
    const [m, s] = await Promise.all([api.models(), api.sites()]);
    models = m.data.data;
    sites = s.data.data.filter((site) => site.status !== "retired");
    staleBanner(m.stale || s.stale);
  } catch (exc) {
    show(h("h2", {}, t("reg.title")), notice(explain(exc), "bad"));
    return;
  }

  const qr = h("input", { type: "text", autocomplete: "off", spellcheck: "false",
    placeholder: "LW:D0:…" });
  const devEui = h("input", { type: "text", autocomplete: "off", spellcheck: "false",
    inputmode: "text", maxlength: "23", pattern: "[0-9A-Fa-f:\\- ]{16,23}", required: true });
  const joinEui = h("input", { type: "text", autocomplete: "off", spellcheck: "false",
    maxlength: "23" });
  const appKey = h("input", { type: "password", autocomplete: "off", spellcheck: "false",
    maxlength: "47" });
  const model = h("select", { required: true },
    h("option", { value: "" }, t("reg.choose")),
    models.map((m) => h("option", { value: m.id }, `${m.vendor} ${m.model}`)));
  const notes = h("div", { class: "card", hidden: true });
  const siteSearch = h("input", { type: "search", autocomplete: "off" });
  const site = h("select", { required: true });
  const lat = h("input", { type: "number", step: "any", min: "-90", max: "90",
    inputmode: "decimal" });
  const lon = h("input", { type: "number", step: "any", min: "-180", max: "180",
    inputmode: "decimal" });
  const place = h("input", { type: "text", maxlength: "200" });
  const role = h("select", {}, h("option", { value: "" }, t("reg.role_none")));
  const counters = h("div", {});
  let here = null;

  function fillSites() {
    const q = siteSearch.value.trim().toLowerCase();
    let list = sites.filter((s) => !q || `${s.id} ${s.name}`.toLowerCase().includes(q));
    if (here) {
      list = list.map((s) => ({ s, d: s.latitude == null ? Infinity : distanceKm(here, s) }))
        .sort((a, b) => a.d - b.d).map((x) => x.s);
    }
    const keep = site.value;
    fill(site, h("option", { value: "" }, t("reg.choose")),
      list.map((s) => h("option", { value: s.id, selected: s.id === keep }, `${s.name} (${s.id})`)));
  }
  siteSearch.addEventListener("input", fillSites);
  fillSites();

  function fillModel() {
    const sheet = models.find((m) => m.id === model.value);
    fill(counters);
    notes.hidden = !sheet;
    if (!sheet) return;
    fill(notes, h("h3", {}, t("reg.install_notes")), h("p", {}, sheet.installation),
      sheet.test_uplink ? h("p", { class: "hint" }, sheet.test_uplink) : null);
    const keep = role.value;
    fill(role, h("option", { value: "" }, t("reg.role_none")),
      (sheet.roles ?? []).map((r) => h("option", { value: r, selected: r === keep }, r)));
    const number = () => h("input", { type: "number", step: "any", min: "0", inputmode: "decimal" });
    sheet.counter_registers.forEach((r, i) => counters.append(field(`reg-${i}`,
      t("reg.index", { metric: r.metric, channel: r.channel, unit: r.unit }), number())));
    for (const c of sheet.pulse_inputs) {
      counters.append(
        field(`pm-${c}`, t("reg.pulse_metric", { channel: c }),
          h("select", {}, Object.entries(PULSE_METRICS).map(([m, unit]) =>
            h("option", { value: m }, `${m} (${unit})`)))),
        field(`pw-${c}`, t("reg.pulse_weight", { channel: c, unit: "m³ | kWh" }), number()),
        field(`pi-${c}`, t("reg.index", { metric: "", channel: c, unit: "m³ | kWh" }), number()));
    }
  }
  model.addEventListener("change", fillModel);

  const locateOut = h("p", { class: "hint", "aria-live": "polite" });
  function locate() {
    if (!navigator.geolocation) {
      locateOut.textContent = t("reg.no_position", { reason: "—" });
      return;
    }
    locateOut.textContent = t("reg.locating");
    navigator.geolocation.getCurrentPosition((pos) => {
      here = { latitude: pos.coords.latitude, longitude: pos.coords.longitude };
      lat.value = here.latitude.toFixed(6);
      lon.value = here.longitude.toFixed(6);
      locateOut.textContent = t("reg.located", { accuracy: Math.round(pos.coords.accuracy) });
      fillSites();
    }, (err) => { locateOut.textContent = t("reg.no_position", { reason: err.message }); },
    { enableHighAccuracy: true, timeout: 15000 });
  }

  async function readQr() {
    try {
      const parsed = await api.parseQr(qr.value.trim());
      devEui.value = parsed.dev_eui;
      if (parsed.join_eui) joinEui.value = parsed.join_eui;
      fill(out, notice(t("reg.qr_ok", { dev_eui: parsed.dev_eui }), "ok"));
      setFieldErrors(form, {});
    } catch (exc) {
      const errors = exc instanceof ApiError ? exc.fieldErrors() : {};
      const message = Object.values(errors).join(" ") || explain(exc);
      setFieldErrors(form, { qr: message });
      qr.focus();
    }
  }

  // The phone's camera and the browser's own barcode reader, when it has one.
  const video = h("video", { hidden: true, playsinline: true, muted: true, "aria-hidden": "true" });
  let camera = null;
  async function scan(button) {
    if (camera) { stopCamera(); button.textContent = t("reg.scan"); return; }
    camera = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    video.srcObject = camera;
    video.hidden = false;
    await video.play();
    button.textContent = t("reg.scan_stop");
    const detector = new BarcodeDetector({ formats: ["qr_code"] });
    const tick = async () => {
      if (!camera) return;
      const codes = await detector.detect(video).catch(() => []);
      const hit = codes.find((c) => c.rawValue.startsWith("LW:"));
      if (hit) {
        qr.value = hit.rawValue;
        stopCamera();
        button.textContent = t("reg.scan");
        await readQr();
      } else {
        requestAnimationFrame(tick);
      }
    };
    tick();
  }
  function stopCamera() {
    if (camera) camera.getTracks().forEach((track) => track.stop());
    camera = null;
    video.hidden = true;
  }
  leaveView = stopCamera;
  const canScan = "BarcodeDetector" in window && navigator.mediaDevices?.getUserMedia;
  const scanButton = canScan
    ? h("button", { type: "button", onclick: (e) => scan(e.currentTarget) }, t("reg.scan"))
    : h("p", { class: "hint" }, t("reg.scan_unavailable"));

  const submit = h("button", { type: "submit" }, t("reg.submit"));
  const form = h("form", { novalidate: true, onsubmit: async (event) => {
    event.preventDefault();
    const body = {
      dev_eui: devEui.value.trim(), model: model.value, site_id: site.value || null,
      location: place.value.trim(),
      join_eui: joinEui.value.trim() || null, app_key: appKey.value.trim() || null,
      role: role.value || null,
      latitude: lat.value === "" ? null : Number(lat.value),
      longitude: lon.value === "" ? null : Number(lon.value),
    };
    // Only what was entered is sent; `errorField` maps the answer's `loc` back to the fields.
    const sheet = models.find((m) => m.id === model.value);
    const value = (id) => form.querySelector(`#${CSS.escape(id)}`)?.value ?? "";
    const now = new Date().toISOString();
    const registers = [];
    const registerFields = [];
    const addRegister = (id, metric, channel) => {
      if (value(id) === "") return;
      registers.push({ metric, channel, commissioned_at: now, index_at_commissioning: Number(value(id)) });
      registerFields.push(id);
    };
    sheet?.counter_registers.forEach((r, i) => addRegister(`reg-${i}`, r.metric, r.channel));
    const weights = {};
    for (const c of sheet?.pulse_inputs ?? []) {
      if (value(`pw-${c}`) === "") continue;
      weights[c] = { metric: value(`pm-${c}`), per_pulse: Number(value(`pw-${c}`)) };
      addRegister(`pi-${c}`, weights[c].metric, c);
    }
    if (Object.keys(weights).length) body.pulse_weights = weights;
    if (registers.length) body.registers = registers;
    const errorField = (loc) => {
      const [head, second, third] = loc.split(".");
      if (head === "registers") return registerFields[Number(second)] ?? "model";
      if (head === "pulse_weights") return second ? `${third === "metric" ? "pm" : "pw"}-${second}` : "model";
      return { dev_eui: "dev-eui", join_eui: "join-eui", app_key: "app-key", site_id: "site",
        latitude: "lat", longitude: "lon", location: "place" }[head] ?? head;
    };
    submit.disabled = true;
    submit.textContent = t("reg.sending");
    try {
      const created = await api.register(body);
      location.hash = `#/verify/${created.dev_eui}`;
    } catch (exc) {
      const errors = exc instanceof ApiError && exc.status === 422 ? exc.fieldErrors() : {};
      const shown = {};
      for (const [loc, message] of Object.entries(errors)) {
        const id = errorField(loc);
        shown[id] = shown[id] ? `${shown[id]} ${message}` : message;
      }
      const first = setFieldErrors(form, shown);
      fill(out, notice(first ? t("reg.fix") : explain(exc), "bad"));
      (first || out).focus?.();
    } finally {
      submit.disabled = false;
      submit.textContent = t("reg.submit");
    }
  } },
  h("h3", {}, t("reg.identify")),
  scanButton, video,
  field("qr", t("reg.qr"), qr, t("reg.qr_hint")),
  h("button", { type: "button", class: "secondary", onclick: readQr }, t("reg.qr_read")),
  field("dev-eui", t("reg.dev_eui"), devEui),
  field("join-eui", t("reg.join_eui"), joinEui),
  field("app-key", t("reg.app_key"), appKey),
  h("h3", {}, t("reg.what")),
  field("model", t("reg.model"), model),
  notes,
  h("button", { type: "button", class: "secondary", onclick: locate }, t("reg.locate")),
  locateOut,
  field("site-search", t("reg.site_search"), siteSearch),
  field("site", t("reg.site"), site),
  field("place", t("reg.location"), place, t("reg.location_hint")),
  h("div", { class: "row" }, field("lat", t("reg.lat"), lat), field("lon", t("reg.lon"), lon)),
  field("role", t("reg.role"), role),
  counters,
  submit);
  show(h("h2", {}, t("reg.title")), form, out);
}

// ---- verify -------------------------------------------------------------------------------
// `s` is the API's technician view of the device (GET /devices/{eui}/technician).
function renderStatus(s, testHint) {
  const prov = s.provisioning;
  const provText = prov === "done" ? t("ver.step.provisioned")
    : prov === "pending" ? t("ver.step.pending") : t("ver.step.provisioning_off");
  const at = (time) => (time ? t("ver.at", { time: when(time) }) : "");
  const steps = h("ol", { class: "steps" },
    h("li", { class: "done" }, t("ver.step.registered")),
    h("li", { class: prov === "done" ? "done" : "" }, provText,
      s.provisioning_error ? h("span", { class: "error" }, ` — ${s.provisioning_error}`) : null),
    h("li", { class: s.join_seen ? "done" : "" }, t("ver.step.join"), " ", at(s.join_seen)),
    h("li", { class: s.first_uplink ? "done" : "" }, t("ver.step.uplink"), " ", at(s.first_uplink)));
  const parts = [steps];
  if (!s.first_uplink) parts.push(notice([t("ver.waiting"), " ", testHint]));
  else if (s.link.verdict === "poor") parts.push(notice(t("ver.poor"), "bad"));
  else if (s.last_values.length) parts.push(notice(t("ver.done"), "ok"));
  if (s.last_values.length) {
    parts.push(h("h3", {}, t("ver.values"), " ", at(s.last_values_at)), h("table", {},
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("ver.metric")),
        h("th", { scope: "col" }, t("ver.value")))),
      h("tbody", {}, s.last_values.map((v) => h("tr", {},
        h("td", {}, `${v.metric}${v.channel ? ` (${v.channel})` : ""}`),
        h("td", {}, `${v.value} ${v.unit}`))))));
  }
  const link = s.link;
  if (link.uplinks > 0) {
    const verdict = link.verdict === "unknown" ? null : link.verdict;
    parts.push(h("h3", {}, t("ver.link")),
      h("p", {}, `RSSI ${link.rssi ?? "—"} dBm, SNR ${link.snr ?? "—"} dB`,
        link.spreading_factor ? `, SF${link.spreading_factor}` : "", " ",
        verdict ? h("span", { class: `badge ${verdict}` }, t(`ver.verdict.${verdict}`)) : null),
      h("ul", { class: "plain" }, link.gateways.map((g) =>
        h("li", {}, `${t("ver.gateway")} ${g.gateway_id} — ${g.uplinks} × — ${when(g.last_heard)}`))));
  }
  if (s.battery) parts.push(h("p", {}, `${t("ver.battery")} : ${s.battery.value} ${s.battery.unit}`));
  parts.push(h("h3", {}, t("ver.errors")), s.problems.length
    ? h("ul", { class: "plain" }, s.problems.map((p) =>
      h("li", { class: "error" }, `${when(p.time)} — ${p.kind} ${p.code}${p.detail ? ` : ${p.detail}` : ""}`)))
    : h("p", {}, t("ver.none")));
  return parts;
}

async function viewVerify(devEui) {
  const body = h("div", { "aria-live": "polite" });
  const mode = h("p", { class: "hint" });
  show(h("h2", {}, t("ver.title", { dev_eui: devEui })), mode, body);
  const abort = new AbortController();
  let timer = null;
  leaveView = () => { abort.abort(); clearTimeout(timer); };
  let testHint = "";
  const draw = (s) => {
    if (!testHint) {
      const sheet = modelsCache.find((m) => m.id === s.model);
      testHint = sheet?.test_uplink ||
        (sheet ? t("ver.next_uplink", { min: Math.round(sheet.uplink_interval_s / 60) }) : "");
    }
    fill(body, ...renderStatus(s, testHint));
  };
  api.models().then((m) => { modelsCache = m.data.data; }).catch(() => {});

  async function poll() {
    try {
      const { data, stale } = await api.field(devEui);
      staleBanner(stale);
      draw(data);
    } catch (exc) {
      if (exc instanceof NetworkError) staleBanner(new Date().toISOString());
      else fill(body, notice(explain(exc), "bad"));
    }
  }
  // Live first; when the stream breaks (4G drop), show the last state, poll, and retry live.
  for (let attempt = 0; !abort.signal.aborted; attempt++) {
    try {
      mode.textContent = t("ver.live");
      await stream(api.livePath(devEui), (name, data) => {
        if (name === "status") { staleBanner(null); draw(data); }
      }, abort.signal);
    } catch (exc) {
      if (abort.signal.aborted) return;
      if (exc instanceof ApiError && [401, 403, 404].includes(exc.status)) {
        fill(body, notice(explain(exc), "bad"));
        return;
      }
    }
    if (abort.signal.aborted) return;
    net.hidden = false;
    net.textContent = t("net.retrying");
    mode.textContent = t("ver.polling", { s: POLL_S });
    await poll();
    await new Promise((resolve) => { timer = setTimeout(resolve, POLL_S * 1000); });
  }
}

// ---- my devices ---------------------------------------------------------------------------
async function viewDevices() {
  if (!key.get()) { show(notice(t("key.needed"), "bad")); location.hash = "#/key"; return; }
  try {
    const { data, stale } = await api.mine();
    staleBanner(stale);
    const items = data.data;
    if (!items.length) { show(h("h2", {}, t("dev.title")), h("p", {}, t("dev.empty"))); return; }
    show(h("h2", {}, t("dev.title")), h("ul", { class: "plain" }, items.map((d) => {
      const flags = (d.health ?? []).map((f) => h("span", { class: "badge poor" }, t(`dev.${f}`)));
      return h("li", { class: "card" },
        h("strong", {}, `${d.dev_eui}`), ` — ${d.model} — ${d.site_id ?? ""}`,
        h("p", {}, d.last_uplink_at ? t("dev.last_seen", { time: when(d.last_uplink_at) }) : t("dev.never")),
        h("p", {}, flags.length ? flags : h("span", { class: "badge good" }, t("dev.healthy"))),
        h("a", { class: "button", href: `#/verify/${d.dev_eui}` }, t("dev.open")),
        swapForm(d));
    })));
  } catch (exc) {
    show(h("h2", {}, t("dev.title")), notice(explain(exc), "bad"));
  }
}

function swapForm(device) {
  const id = (name) => `swap-${device.dev_eui}-${name}`;
  const register = h("select", {});
  const fillRegisters = async () => {
    const { data } = await api.registers(device.dev_eui);
    fill(register, ...data.data.map((r) =>
      h("option", { value: `${r.metric}|${r.channel}` }, `${r.metric} ${r.channel}`)));
  };
  const at = h("input", { type: "datetime-local", required: true });
  const oldIndex = h("input", { type: "number", step: "any", min: "0", inputmode: "decimal" });
  const newIndex = h("input", { type: "number", step: "any", min: "0", inputmode: "decimal",
    value: "0" });
  const out = h("div", { "aria-live": "polite" });
  const form = h("form", { novalidate: true, onsubmit: async (event) => {
    event.preventDefault();
    const [metric, channel] = register.value.split("|");
    try {
      await api.recordSwap(device.dev_eui, {
        metric, channel, swapped_at: at.value ? new Date(at.value).toISOString() : null,
        old_final_index: oldIndex.value === "" ? null : Number(oldIndex.value),
        new_initial_index: Number(newIndex.value || 0),
      });
      fill(out, notice(t("swap.ok"), "ok"));
    } catch (exc) {
      const errors = exc instanceof ApiError && exc.status === 422 ? exc.fieldErrors() : {};
      const map = { swapped_at: id("at"), old_final_index: id("old"), new_initial_index: id("new") };
      setFieldErrors(form, Object.fromEntries(Object.entries(errors).map(([k, v]) => [map[k] || k, v])));
      fill(out, notice(explain(exc), "bad"));
    }
  } },
  field(id("register"), t("swap.metric"), register),
  field(id("at"), t("swap.at"), at),
  field(id("old"), t("swap.old"), oldIndex, t("swap.old_hint")),
  field(id("new"), t("swap.new"), newIndex),
  h("button", { type: "submit", class: "secondary" }, t("swap.submit")), out);
  const details = h("details", {}, h("summary", { class: "button secondary" }, t("swap.title")), form);
  details.addEventListener("toggle", () => { if (details.open) fillRegisters().catch((exc) =>
    fill(out, notice(explain(exc), "bad"))); });
  return details;
}

// ---- shell --------------------------------------------------------------------------------
function translateStatic() {
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  const other = currentLang() === "fr" ? "en" : "fr";
  const button = document.getElementById("lang");
  button.textContent = other.toUpperCase();
  button.setAttribute("aria-label", t("lang.other"));
}

function route() {
  leaveView();
  leaveView = () => {};
  net.hidden = true;
  const hash = location.hash || (key.get() ? "#/register" : "#/key");
  for (const a of document.querySelectorAll("nav a")) {
    if (hash.startsWith(a.getAttribute("href"))) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const [, page, arg] = hash.split("/");
  if (page === "verify" && arg) viewVerify(decodeURIComponent(arg));
  else if (page === "devices") viewDevices();
  else if (page === "register") viewRegister();
  else viewKey();
}

document.getElementById("lang").addEventListener("click", () => {
  setLang(currentLang() === "fr" ? "en" : "fr");
  translateStatic();
  route();
});
window.addEventListener("hashchange", () => { navigated = true; route(); });
setLang(currentLang());
translateStatic();
route();
if ("serviceWorker" in navigator) navigator.serviceWorker.register("sw.js").catch(() => {});
