// week-planner's service worker (served at /sw.js by web/offline.py): the programme pages
// a visitor opened keep working without a network.
// - Static files (stylesheets, fonts, scripts, icons): cache first, preloaded into a cache
//   named after their version; a new version gets a new cache and the old one is deleted.
// - Public pages and calendar feeds: network first, so nobody sees an old programme while
//   online; the last copy is kept for when the network is gone, and a page shown from it
//   is marked with the time it was saved (static/offline.js says so on the page).
// - Never kept: personal pages and feeds, forms, anything with a query string or a token,
//   any response marked private or no-store, anything but a 200.
"use strict";

const VERSION = {{ version | tojson }};
const STATIC_CACHE = "week-planner-static-" + VERSION;
const PAGES_CACHE = "week-planner-pages-1";
const PRECACHE = {{ precache | tojson }};
const OFFLINE_PAGE = {{ offline_page | tojson }};
const STATIC_PREFIX = {{ static_prefix | tojson }};
const NEVER_KEPT = new RegExp({{ never_kept | tojson }});
const FEED = /\.ics$/;
const SAVED_AT = "X-Week-Planner-Saved-At";

self.addEventListener("install", (event) => {
  // One missing file (a static copy of the site without it) does not stop the others.
  event.waitUntil(caches.open(STATIC_CACHE)
    .then((cache) => Promise.all(PRECACHE.map((path) =>
      cache.add(new Request(path, {cache: "no-cache"})).catch(() => undefined))))
    .then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((names) => Promise.all(names
      .filter((name) => name.startsWith("week-planner-") &&
                        name !== STATIC_CACHE && name !== PAGES_CACHE)
      .map((name) => caches.delete(name))))
    .then(() => self.clients.claim()));
});

function keepable(url) {
  return url.origin === self.location.origin && !url.search && !NEVER_KEPT.test(url.pathname);
}

function storable(response) {
  if (!response || response.status !== 200 || response.type !== "basic") return false;
  return !/no-store|private/i.test(response.headers.get("Cache-Control") || "");
}

// Keeps a page's or feed's latest copy, with the time it was saved; a page the site no
// longer has (404, 410) is forgotten.
async function remember(url, response) {
  const cache = await caches.open(PAGES_CACHE);
  if (response.status === 404 || response.status === 410) {
    await cache.delete(url);
    return;
  }
  if (!storable(response)) return;
  const headers = new Headers(response.headers);
  headers.set(SAVED_AT, new Date().toISOString());
  const body = await response.blob();
  await cache.put(url, new Response(body, {
    status: response.status, statusText: response.statusText, headers: headers}));
}

async function savedCopy(request) {
  const cache = await caches.open(PAGES_CACHE);
  const found = await cache.match(request.url, {ignoreVary: true});
  if (!found || request.mode !== "navigate") return found;
  const saved = (found.headers.get(SAVED_AT) || "").replace(/[^0-9TZ:.+-]/g, "");
  const headers = new Headers(found.headers);
  headers.delete("Content-Length");
  const text = (await found.text()).replace("<html", '<html data-offline-saved="' + saved + '"');
  return new Response(text, {status: 200, statusText: "OK", headers: headers});
}

async function offlinePage() {
  const found = await caches.match(OFFLINE_PAGE, {ignoreVary: true});
  return found || Response.error();
}

async function networkFirst(event) {
  const request = event.request;
  let response;
  try {
    response = await fetch(request);
  } catch (error) {
    return (await savedCopy(request)) ||
      (request.mode === "navigate" ? offlinePage() : Response.error());
  }
  if (response.status >= 500) {  // the site is down behind its proxy: the copy is better
    const saved = await savedCopy(request);
    if (saved) return saved;
  }
  event.waitUntil(remember(request.url, response.clone()));
  return response;
}

async function cacheFirst(event) {
  const cache = await caches.open(STATIC_CACHE);
  const found = await cache.match(event.request, {ignoreVary: true});
  if (found) return found;
  const response = await fetch(event.request);
  if (storable(response)) event.waitUntil(cache.put(event.request, response.clone()));
  return response;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.startsWith(STATIC_PREFIX) && !url.search) {
    event.respondWith(cacheFirst(event));
  } else if (keepable(url) && (request.mode === "navigate" || FEED.test(url.pathname))) {
    event.respondWith(networkFirst(event));
  } else if (request.mode === "navigate") {
    // A page that is never kept (a personal page, a form): from the network, or the
    // page that says it needs one.
    event.respondWith(fetch(request).catch(() => offlinePage()));
  }
});

// A page opened before the worker took charge asks for itself and its feeds to be kept.
self.addEventListener("message", (event) => {
  const paths = event.data && event.data.keep;
  if (!Array.isArray(paths)) return;
  event.waitUntil(Promise.all(paths.slice(0, 8).map(async (path) => {
    const url = new URL(String(path), self.location.origin);
    if (!keepable(url)) return;
    try {
      await remember(url.href, await fetch(url.href, {credentials: "same-origin"}));
    } catch (error) {
      // No network: the copy kept before stays.
    }
  })));
});
