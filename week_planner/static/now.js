// Keeps a page that stays open (or a saved copy, or the static export) current by this
// device's clock: the events happening now and those over, the "today" mark, and the
// "now / next" box, rebuilt from the event cards on the page. The server's rendering is
// the page without JavaScript; this only moves it on as time passes.
(function () {
  "use strict";

  function time(element, name) {
    var value = Date.parse(element.getAttribute(name));
    return isNaN(value) ? null : value;
  }

  function markEvents(now) {
    var items = document.querySelectorAll(".event[data-start][data-end]");
    for (var i = 0; i < items.length; i++) {
      var start = time(items[i], "data-start"), end = time(items[i], "data-end");
      if (start === null || end === null) continue;
      var cancelled = items[i].classList.contains("is-cancelled");
      items[i].classList.toggle("is-now", !cancelled && start <= now && now < end);
      items[i].classList.toggle("is-past", end <= now);
    }
  }

  function markToday(now) {
    var days = document.querySelectorAll(".day[data-day-start][data-day-end]");
    var box = document.querySelector(".now-next[data-start]");
    var during = box && time(box, "data-start") <= now && now < time(box, "data-end");
    for (var i = 0; i < days.length; i++) {
      var today = during && time(days[i], "data-day-start") <= now &&
        now < time(days[i], "data-day-end");
      days[i].classList.toggle("is-today", !!today);
      var title = days[i].querySelector(".day-title");
      var badge = title && title.querySelector(".today-badge");
      if (today && title && !badge) {
        badge = document.createElement("span");
        badge.className = "today-badge";
        badge.textContent = "امروز";
        title.appendChild(document.createTextNode(" "));
        title.appendChild(badge);
      } else if (!today && badge) {
        badge.parentNode.removeChild(badge);
      }
      var link = document.querySelector('.day-nav a[href="#' + days[i].id + '"]');
      if (link) {
        if (today) link.setAttribute("aria-current", "date");
        else link.removeAttribute("aria-current");
      }
    }
  }

  // One line of the box, made from an event card: its time (with the day when it is not
  // today), its title link, its venue and its status.
  function line(card, today) {
    var item = document.createElement("li");
    var when = document.createElement("span");
    when.className = "when";
    var day = card.closest(".day");
    if (day && day !== today && day.getAttribute("data-day-name")) {
      when.appendChild(document.createTextNode(day.getAttribute("data-day-name") + "، "));
    }
    var times = card.querySelectorAll(".when time");
    for (var i = 0; i < times.length; i++) {
      if (i) when.appendChild(document.createTextNode(" تا "));
      when.appendChild(times[i].cloneNode(true));
    }
    item.appendChild(when);
    item.appendChild(document.createTextNode(" "));
    var title = card.querySelector(".title a");
    if (title) item.appendChild(title.cloneNode(true));
    if (card.getAttribute("data-venue")) {
      var where = document.createElement("span");
      where.className = "where";
      where.textContent = "، " + card.getAttribute("data-venue");
      item.appendChild(where);
    }
    var status = card.querySelector(".status-tentative");
    if (status) item.appendChild(status.cloneNode(true));
    return item;
  }

  function part(className, heading, cards, empty, today) {
    var block = document.createElement("div");
    block.className = className;
    var title = document.createElement("h3");
    title.textContent = heading;
    block.appendChild(title);
    if (cards.length) {
      var list = document.createElement("ul");
      for (var i = 0; i < cards.length; i++) list.appendChild(line(cards[i], today));
      block.appendChild(list);
    } else {
      var note = document.createElement("p");
      note.textContent = empty;
      block.appendChild(note);
    }
    return block;
  }

  // What the box shows now: the server's rendering, until the clock moves past it.
  var rendered = document.querySelector(".now-next[data-state]");
  var lastState = rendered ? rendered.getAttribute("data-state") : null;

  function updateBox(now) {
    var box = document.querySelector(".now-next[data-start]");
    if (!box) return;
    var phase = now < time(box, "data-start") ? "before" :
      now >= time(box, "data-end") ? "after" : "during";
    if (phase === "before") return;  // the server's count of days left stands
    var cards = Array.prototype.slice.call(
      document.querySelectorAll(".event[data-start][data-end]:not(.is-cancelled)"));
    var seen = {}, current = [], later = [];
    cards.forEach(function (card) {
      var key = card.getAttribute("data-key");
      if (seen[key]) return;  // an event shown twice (all-day on several days)
      seen[key] = true;
      var start = time(card, "data-start"), end = time(card, "data-end");
      if (start <= now && now < end) current.push(card);
      else if (start > now) later.push(card);
    });
    var first = Math.min.apply(null, later.map(function (card) { return time(card, "data-start"); }));
    var next = later.filter(function (card) { return time(card, "data-start") === first; });
    var state = phase + "|" + current.concat(next).map(function (card) {
      return card.getAttribute("data-key");
    }).join(",");
    if (state === lastState) return;
    lastState = state;
    var heading = box.querySelector("h2");
    while (box.lastChild && box.lastChild !== heading) box.removeChild(box.lastChild);
    box.className = box.className.replace(/\bphase-\w+/, "phase-" + phase);
    if (phase === "after") {
      heading.textContent = "پایان یافته";
      var ended = document.createElement("p");
      ended.textContent = box.getAttribute("data-ended-text");
      box.appendChild(ended);
      return;
    }
    heading.textContent = "اکنون و بعد";
    var today = document.querySelector(".day.is-today");
    box.appendChild(part("now", "اکنون", current, "اکنون برنامه‌ای در جریان نیست.", today));
    box.appendChild(part("next", "بعدی", next, "برنامهٔ دیگری نمانده است.", today));
  }

  function update() {
    var now = Date.now();
    markEvents(now);
    markToday(now);
    updateBox(now);
  }

  update();
  setInterval(update, 30000);
})();
