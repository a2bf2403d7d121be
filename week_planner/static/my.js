// "My programme" kept in this browser: the ☆ on each event adds it or takes it away, and
// the «برنامهٔ من» link opens the personal calendar of the starred events. Without
// JavaScript each ☆ is a link to the "my programme" form with its event ticked.
(function () {
  "use strict";
  var root = document.querySelector("[data-programme]");
  if (!root) return;
  var key = "week-planner.my." + root.getAttribute("data-programme");
  var digits = "۰۱۲۳۴۵۶۷۸۹";

  function load() {
    try {
      var found = JSON.parse(window.localStorage.getItem(key) || "[]");
      return Array.isArray(found) ? found.filter(function (id) { return typeof id === "string"; }) : [];
    } catch (error) {
      return [];
    }
  }
  function save(ids) {
    try { window.localStorage.setItem(key, JSON.stringify(ids)); } catch (error) { /* private mode */ }
  }
  function persian(number) {
    return String(number).replace(/[0-9]/g, function (d) { return digits[d]; });
  }

  var chosen = load();

  function refresh() {
    var stars = document.querySelectorAll("button.star[data-event]");
    for (var i = 0; i < stars.length; i++) {
      var on = chosen.indexOf(stars[i].getAttribute("data-event")) !== -1;
      stars[i].setAttribute("aria-pressed", on ? "true" : "false");
      stars[i].firstChild.textContent = on ? "★" : "☆";
    }
    var links = document.querySelectorAll("a[data-my-link]");
    for (var j = 0; j < links.length; j++) {
      var base = links[j].getAttribute("data-base") || links[j].getAttribute("href");
      links[j].setAttribute("data-base", base);
      links[j].setAttribute("href", chosen.length ? base + "?" + chosen.map(function (id) {
        return "e=" + encodeURIComponent(id);
      }).join("&") + "#my-calendar" : base);
      var count = links[j].querySelector(".my-count");
      if (count) count.textContent = chosen.length ? " (" + persian(chosen.length) + ")" : "";
    }
  }

  // Each ☆ link becomes a toggle button with the same name.
  var anchors = document.querySelectorAll("a.star[data-event]");
  for (var k = 0; k < anchors.length; k++) {
    var anchor = anchors[k];
    var button = document.createElement("button");
    button.type = "button";
    button.className = "star";
    button.setAttribute("data-event", anchor.getAttribute("data-event"));
    button.setAttribute("aria-label", anchor.getAttribute("aria-label"));
    button.title = anchor.title;
    var glyph = document.createElement("span");
    glyph.setAttribute("aria-hidden", "true");
    button.appendChild(glyph);
    button.addEventListener("click", function (event) {
      var id = event.currentTarget.getAttribute("data-event");
      var at = chosen.indexOf(id);
      if (at === -1) chosen.push(id); else chosen.splice(at, 1);
      save(chosen);
      refresh();
    });
    anchor.parentNode.replaceChild(button, anchor);
  }

  // The "my programme" form: ticks what was starred when opened plain, and remembers what
  // is ticked when a calendar is made.
  var form = document.querySelector("form.my-choice");
  if (form) {
    var boxes = form.querySelectorAll("input[name=e]");
    if (window.location.search.indexOf("e=") === -1 && chosen.length) {
      for (var b = 0; b < boxes.length; b++) boxes[b].checked = chosen.indexOf(boxes[b].value) !== -1;
    }
    if (window.location.search.indexOf("e=") !== -1) {
      chosen = [];
      for (var c = 0; c < boxes.length; c++) if (boxes[c].checked) chosen.push(boxes[c].value);
      save(chosen);
    }
    form.addEventListener("submit", function () {
      var ticked = [];
      for (var d = 0; d < boxes.length; d++) if (boxes[d].checked) ticked.push(boxes[d].value);
      save(ticked);
    });
  }
  // "Tick at least one event": read out and in view at once (it comes before the list).
  var alert = document.querySelector(".my-programme [role=alert]");
  if (alert) {
    alert.setAttribute("tabindex", "-1");
    alert.focus();
  }
  refresh();
})();
