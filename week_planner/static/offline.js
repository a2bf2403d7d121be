// Registers the service worker (templates/sw.js, at the address in data-worker) so that
// the pages opened in this browser keep working without a network, and says on a copy
// shown from this device when it was saved. The pages work fully without it.
(function () {
  "use strict";
  var script = document.currentScript;
  var saved = document.documentElement.getAttribute("data-offline-saved");

  // «سه‌شنبه ۱۰ آذر ۱۴۰۵، ساعت ۱۹:۲۰», put together from its parts: browsers order the
  // whole differently.
  function formatted(moment) {
    var parts = {};
    try {
      new Intl.DateTimeFormat("fa-IR-u-ca-persian-nu-arabext", {
        weekday: "long", day: "numeric", month: "long", year: "numeric",
        hour: "2-digit", minute: "2-digit", hourCycle: "h23"
      }).formatToParts(moment).forEach(function (part) { parts[part.type] = part.value; });
    } catch (error) {
      return moment.toLocaleString("fa-IR");
    }
    return parts.weekday + " " + parts.day + " " + parts.month + " " + parts.year +
      "، ساعت " + parts.hour + ":" + parts.minute;
  }

  // The note above the page: a saved copy, and from when; once the network is back, a
  // button that shows the page as it is now.
  function note(when) {
    var main = document.getElementById("main");
    if (!main) return;
    var box = document.createElement("p");
    box.className = "offline-note";
    box.setAttribute("role", "status");
    var state = document.createElement("span");
    state.textContent = "اکنون به تارنما دسترسی نیست؛ این نسخه‌ای است که روی همین دستگاه ذخیره شده.";
    box.appendChild(state);
    var moment = new Date(when);
    if (!isNaN(moment.getTime())) {
      box.appendChild(document.createTextNode(" آخرین به‌روزرسانی: " + formatted(moment) + "."));
    }
    main.parentNode.insertBefore(box, main);
    window.addEventListener("online", function () {
      if (box.querySelector("button")) return;
      state.textContent = "اتصال برقرار شد؛ آنچه می‌بینید نسخهٔ ذخیره‌شده است.";
      var again = document.createElement("button");
      again.type = "button";
      again.className = "button";
      again.textContent = "دیدن نسخهٔ تازه";
      again.addEventListener("click", function () { window.location.reload(); });
      box.appendChild(document.createTextNode(" "));
      box.appendChild(again);
    });
  }

  if (saved) note(saved);
  var worker = script && script.getAttribute("data-worker");
  if (!worker || !("serviceWorker" in navigator)) return;
  // Whether this page came through the worker (which then kept it already).
  var kept = !!navigator.serviceWorker.controller;
  navigator.serviceWorker.register(worker).then(function () {
    return navigator.serviceWorker.ready;
  }).then(function (registration) {
    if (saved || window.location.search || !registration.active) return;
    var paths = kept ? [] : [window.location.pathname];
    var feeds = document.querySelectorAll('link[rel="alternate"][type="text/calendar"]');
    for (var i = 0; i < feeds.length; i++) {
      var feed = new URL(feeds[i].getAttribute("href"), window.location.href);
      if (feed.origin === window.location.origin) paths.push(feed.pathname);
    }
    if (paths.length) registration.active.postMessage({keep: paths});
  }).catch(function () {
    // No worker (a private window, an old browser): the page is as it was.
  });
})();
