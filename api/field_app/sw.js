// Keeps the app shell on the phone so it opens in a basement with no network. API answers are
// not cached here: the app keeps its own last copy of each (api.js), marked with its age.
const SHELL = "icone-field-v1";
const FILES = ["./", "index.html", "app.js", "api.js", "i18n.js", "style.css",
  "manifest.webmanifest", "icon.svg"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL).then((cache) => cache.addAll(FILES)));
  self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys().then((names) =>
    Promise.all(names.filter((n) => n !== SHELL).map((n) => caches.delete(n)))));
  self.clients.claim();
});

// Network first (a new release is picked up at once), the cached shell when offline.
self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || !url.pathname.startsWith(new URL(self.registration.scope).pathname)) {
    return;
  }
  event.respondWith(
    fetch(event.request)
      .then((response) => {
        const copy = response.clone();
        caches.open(SHELL).then((cache) => cache.put(event.request, copy));
        return response;
      })
      .catch(() => caches.match(event.request).then((hit) => hit || caches.match("index.html"))),
  );
});
