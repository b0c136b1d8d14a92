// CareLoop portal: small enhancements only; every page works without this file.
// Due times count down: each <time data-due> gets its text refreshed every 30 s
// ("due in 42 min", "1 h 5 min late"); without JavaScript the server's text stays.
(function () {
  "use strict";

  function words(ms) {
    var minutes = Math.floor(Math.abs(ms) / 60000);
    var days = Math.floor(minutes / 1440);
    var hours = Math.floor((minutes % 1440) / 60);
    var mins = minutes % 60;
    var parts = [];
    if (days) { parts.push(days + " d"); }
    if (hours) { parts.push(hours + " h"); }
    if (!days) { parts.push(mins + " min"); }
    return parts.join(" ");
  }

  function refresh() {
    var now = Date.now();
    var nodes = document.querySelectorAll("time[data-due]");
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      var due = Date.parse(node.getAttribute("data-due"));
      if (isNaN(due)) { continue; }
      var late = now - due;
      if (Math.abs(late) < 60000) {
        node.textContent = "due now";
      } else if (late > 0) {
        node.textContent = words(late) + " late";
        node.classList.add("overdue");
      } else {
        node.textContent = "due in " + words(late);
      }
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (document.querySelector("time[data-due]")) {
      refresh();
      window.setInterval(refresh, 30000);
    }
  });
})();
