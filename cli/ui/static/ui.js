// tape ui: the little the pages need beyond links, forms and htmx. No inline script anywhere:
// the content security policy allows only this origin's files.
(function () {
  "use strict";

  // Copy a folded text or an effect's payload (the <pre class="full"> beside the button).
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button.copy") : null;
    if (!button) return;
    var pre = button.parentElement.querySelector("pre.full");
    if (!pre) return;
    var text = pre.textContent;
    var done = function () { button.textContent = "copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { select(pre); });
    } else {
      select(pre);
    }
  });

  function select(node) {
    var range = document.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  // The slider's two inputs show one event number.
  document.addEventListener("input", function (event) {
    var id = event.target.id;
    if (id !== "at-range" && id !== "at-number") return;
    var other = document.getElementById(id === "at-range" ? "at-number" : "at-range");
    if (other) other.value = event.target.value;
  });

  // Live: a timeline showing its head listens for new forms (server-sent events).
  var stream = null;
  function listen() {
    var live = document.getElementById("live");
    if (stream) { stream.close(); stream = null; }
    if (!live || !live.dataset.url || !window.EventSource) return;
    stream = new EventSource(live.dataset.url);
    stream.addEventListener("rows", function (event) {
      var rows = document.getElementById("rows");
      if (rows) rows.insertAdjacentHTML("beforeend", event.data);  // HTML the server escaped
    });
    stream.addEventListener("head", function (event) {
      live.textContent = "live: head is event " + event.data;
      live.dataset.head = event.data;
    });
    stream.onerror = function () { live.classList.add("stalled"); };
    stream.onopen = function () { live.classList.remove("stalled"); live.dataset.open = "1"; };
  }
  document.addEventListener("DOMContentLoaded", listen);
  document.addEventListener("htmx:afterSettle", listen);
  window.addEventListener("pagehide", function () { if (stream) stream.close(); });
})();
