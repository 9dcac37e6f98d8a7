// The API as the field app uses it: one place for paths, the key, errors and the offline copy.
const KEY = "icone.key";
const CACHE = "icone.cache:";

export class ApiError extends Error {
  constructor(status, body, requestId) {
    super(typeof body?.detail === "string" ? body.detail : `HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.requestId = requestId;
  }
  // The API's error body: {status, detail, request_id, errors: [{location, name, message}]},
  // `name` being the field's path ("registers.0.index_at_commissioning") -> {name: message}.
  fieldErrors() {
    const out = {};
    for (const item of this.body?.errors ?? []) {
      const name = item.name || "_";
      out[name] = out[name] ? `${out[name]} ${item.message}` : item.message;
    }
    return out;
  }
}

export class NetworkError extends Error {}

export const key = {
  get: () => localStorage.getItem(KEY),
  set: (value) => localStorage.setItem(KEY, value.trim()),
  clear: () => localStorage.removeItem(KEY),
};

function headers(extra = {}) {
  const h = { Accept: "application/json", ...extra };
  const k = key.get();
  if (k) h.Authorization = `Bearer ${k}`;
  return h;
}

async function request(method, path, body) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }),
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (exc) {
    throw new NetworkError(String(exc));
  }
  const text = await response.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { parsed = { detail: text }; }
  if (!response.ok) {
    throw new ApiError(response.status, parsed, parsed?.request_id || "—");
  }
  return parsed;
}

// GET with an offline copy: the last good answer is kept on the phone and served, marked
// stale, when the network is gone (a basement), so the screen still shows the last state.
export async function getCached(path) {
  try {
    const data = await request("GET", path);
    localStorage.setItem(CACHE + path, JSON.stringify({ at: new Date().toISOString(), data }));
    return { data, stale: null };
  } catch (exc) {
    if (!(exc instanceof NetworkError)) throw exc;
    const kept = localStorage.getItem(CACHE + path);
    if (!kept) throw exc;
    const { at, data } = JSON.parse(kept);
    return { data, stale: at };
  }
}

export const api = {
  whoami: () => request("GET", "/whoami"),
  models: () => getCached("/catalogue/models"),
  sites: () => getCached("/sites?limit=500"),
  parseQr: (code) => request("POST", "/onboarding/qr", { code }),
  register: (device) => request("POST", "/devices", device),
  field: (devEui) => getCached(`/devices/${encodeURIComponent(devEui)}/technician`),
  mine: () => getCached("/field/my-devices"),
  registers: (devEui) => getCached(`/devices/${encodeURIComponent(devEui)}/registers`),
  recordSwap: (devEui, swap) =>
    request("POST", `/devices/${encodeURIComponent(devEui)}/meter-swaps`, swap),
  livePath: (devEui) => `/devices/${encodeURIComponent(devEui)}/technician/live`,
};

// Server-sent events over fetch (EventSource cannot send the Authorization header).
// Calls onEvent(name, data) per event; resolves when the stream ends, rejects on failure.
export async function stream(path, onEvent, signal) {
  let response;
  try {
    response = await fetch(path, { headers: headers({ Accept: "text/event-stream" }), signal });
  } catch (exc) {
    throw new NetworkError(String(exc));
  }
  if (!response.ok || !response.body) throw new ApiError(response.status, null, "—");
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch (exc) {
      throw new NetworkError(String(exc));
    }
    if (chunk.done) return;
    buffer += chunk.value.replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) onEvent(name, JSON.parse(data.join("\n")));
    }
  }
}
