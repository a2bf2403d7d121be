// Marks the events happening now by this device's clock, so a page kept open (or saved
// for when the connection drops) stays current. The page works fully without it.
(function () {
  "use strict";
  function mark() {
    var now = Date.now();
    var items = document.querySelectorAll(".event[data-start][data-end]");
    for (var i = 0; i < items.length; i++) {
      var start = Date.parse(items[i].getAttribute("data-start"));
      var end = Date.parse(items[i].getAttribute("data-end"));
      if (isNaN(start) || isNaN(end)) continue;
      var cancelled = items[i].classList.contains("is-cancelled");
      items[i].classList.toggle("is-now", !cancelled && start <= now && now < end);
      items[i].classList.toggle("is-past", end <= now);
    }
  }
  mark();
  setInterval(mark, 60000);
})();
