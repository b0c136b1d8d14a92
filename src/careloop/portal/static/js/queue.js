// CareLoop work queue keys: j / k move between rows, Enter or o opens the case, c claims
// the row's work. Every action is also a link or a button; this file only adds keys.
(function () {
  "use strict";

  var table = document.getElementById("work-queue");
  if (!table) { return; }
  var rows = Array.prototype.slice.call(table.querySelectorAll("tbody tr"));
  var current = -1;

  function select(index) {
    if (!rows.length) { return; }
    index = Math.max(0, Math.min(rows.length - 1, index));
    if (current >= 0) { rows[current].classList.remove("is-current"); rows[current].removeAttribute("aria-current"); }
    current = index;
    var row = rows[current];
    row.classList.add("is-current");
    row.setAttribute("aria-current", "true");
    row.setAttribute("tabindex", "-1");
    row.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }

  function typing(target) {
    var name = target && target.tagName;
    return name === "INPUT" || name === "SELECT" || name === "TEXTAREA" || (target && target.isContentEditable);
  }

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || typing(event.target)) { return; }
    var key = event.key;
    if (key === "j") { select(current + 1); event.preventDefault(); return; }
    if (key === "k") { select(current - 1); event.preventDefault(); return; }
    if (current < 0) { return; }
    var row = rows[current];
    if (key === "o" || (key === "Enter" && event.target === row)) {
      var href = row.getAttribute("data-open");
      if (href) { window.location.assign(href); event.preventDefault(); }
    } else if (key === "c") {
      var form = row.querySelector("form.claim");
      if (form) { form.submit(); event.preventDefault(); }
    }
  });
})();
