// pantau pages: live SLA countdowns, a busy label on slow buttons, the letters' print button.
(function () {
  "use strict";
  function span(seconds, units) {
    var s = Math.floor(Math.abs(seconds));
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600);
    var m = Math.floor(s % 3600 / 60), r = s % 60;
    function two(n) { return (n < 10 ? "0" : "") + n; }
    if (d) return d + " " + units[0] + " " + h + " " + units[1];
    if (h) return h + " " + units[1] + " " + two(m) + " " + units[2];
    if (m) return m + " " + units[2] + " " + two(r) + " " + units[3];
    return r + " " + units[3];
  }
  function tick(offset) {
    var now = Date.now() + offset;
    document.querySelectorAll(".countdown[data-due]").forEach(function (el) {
      var left = (Number(el.dataset.due) - now) / 1000;
      var units = (el.dataset.units || "d h m s").split(" ");
      var text = left >= 0 ? el.dataset.leftText : el.dataset.overText;
      el.textContent = text.replace("{d}", span(left, units));
      if (left < 0) {
        el.classList.add("breached");
        var row = el.closest("tr");
        if (row) row.classList.add("breached-row");
      }
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var clock = document.getElementById("sla-clock");
    if (clock && document.querySelector(".countdown[data-due]")) {
      var offset = Number(clock.dataset.now) - Date.now();  // the server's clock decides
      tick(offset);
      window.setInterval(function () { tick(offset); }, 1000);
    }
    document.querySelectorAll("form").forEach(function (form) {
      form.addEventListener("submit", function () {
        var button = form.querySelector("button[data-busy]");
        if (button && button.dataset.busy) {
          button.textContent = button.dataset.busy;
          window.setTimeout(function () { button.disabled = true; }, 0);
        }
      });
    });
    document.querySelectorAll("[data-print]").forEach(function (el) {
      el.addEventListener("click", function () { window.print(); });
    });
  });
})();
