// Reload the agents' queue every few seconds, but never while someone is typing or has chosen something.
(function () {
  var marker = document.getElementById("refresh");
  if (!marker) { return; }
  var seconds = parseInt(marker.getAttribute("data-seconds"), 10) || 15;
  var touched = false;
  document.addEventListener("input", function () { touched = true; });
  document.addEventListener("change", function () { touched = true; });
  setInterval(function () {
    var active = document.activeElement;
    var typing = active && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName);
    if (!touched && !typing) { window.location.reload(); }
  }, seconds * 1000);
})();
