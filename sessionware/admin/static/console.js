// sessionware console: progressive enhancement only. Without it every page and
// form still works; with it, session details open in a dialog and act in place.
(function () {
  "use strict";
  var dialog = document.getElementById("detail-dialog");

  function load(url, options) {
    options = options || {};
    options.headers = { "X-Console-Partial": "1" };
    options.credentials = "same-origin";
    return fetch(url, options).then(function (response) {
      if (response.headers.get("X-Console-Changed") === "1") dialog.dataset.changed = "1";
      return response.text().then(function (text) {
        if (response.ok || response.status === 422) {  // (422: the form again, with why)
          dialog.innerHTML = text;
        } else {  // the server's own sentence, whatever page it came in, and a way out
          var kind = response.headers.get("Content-Type") || "";
          if (kind.indexOf("text/html") === 0) {
            var page = new DOMParser().parseFromString(text, "text/html");
            var main = page.querySelector("main") || page.body;
            text = main ? main.textContent : "";
          }
          text = text.replace(/\s+/g, " ").trim().slice(0, 600);
          dialog.innerHTML = '<section class="detail"><p class="notice" role="alert"></p>' +
            '<button type="button" data-close>Close</button></section>';
          dialog.querySelector(".notice").textContent =
            text || "Refused (" + response.status + ").";
        }
        enhance(dialog);
        if (!dialog.open) dialog.showModal();
        // a question ("Revoke?") takes the focus and is shown, wherever it sits in the
        // dialog; anything else opens at its top, focus on its first field
        var question = dialog.querySelector("form.confirm");
        var scope = question || dialog;  // (a question names its own: the safe answer)
        var first = (question && question.querySelector("[autofocus]")) ||
          scope.querySelector("input:not([type=hidden]), button:not([hidden])");
        dialog.scrollTop = 0;
        if (first) first.focus({ preventScroll: true });
        if (question) question.scrollIntoView({ block: "nearest" });
      });
    });
  }

  function enhance(scope) {
    scope.querySelectorAll("[data-copy]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var facts = Array.prototype.map.call(scope.querySelectorAll(".facts dt"), function (dt) {
          return dt.textContent + ": " + dt.nextElementSibling.textContent.trim();
        });
        var payload = scope.querySelector("#payload");
        var text = facts.join("\n") + (payload ? "\n\n" + payload.textContent : "");
        var done = function () { button.textContent = "Copied"; };
        var fallback = function () {
          var area = document.createElement("textarea");
          area.value = text; button.parentNode.appendChild(area); area.select();
          document.execCommand("copy"); area.remove(); done();
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(done, fallback);
        } else {
          fallback();
        }
      });
    });
  }

  if (dialog) {
    document.addEventListener("click", function (event) {
      var link = event.target.closest("a[data-dialog]");
      if (link) { event.preventDefault(); load(link.href); return; }
      if (event.target.closest("[data-close]") && dialog.open) { event.preventDefault(); dialog.close(); }
    });
    dialog.addEventListener("submit", function (event) {
      var form = event.target.closest("form[data-in-dialog]");
      if (!form) return;
      event.preventDefault();
      if (form.dataset.sent === "1") return;  // a double click sends it once
      form.dataset.sent = "1";
      var body = new URLSearchParams(new FormData(form));
      var sent = form.method.toLowerCase() === "get"  // (a question, such as "Revoke?")
        ? load(form.action + "?" + body.toString())
        : load(form.action, { method: "POST", body: body });
      sent.catch(function () {
        delete form.dataset.sent;  // the network failed: it may be sent again
      });
    });
    dialog.addEventListener("close", function () {
      if (dialog.dataset.changed === "1") window.location.reload();
      dialog.innerHTML = "";
    });
  } else {
    enhance(document);
  }

  // An export downloads a file and leaves the page: fold its menu away.
  document.querySelectorAll("details.export form").forEach(function (form) {
    form.addEventListener("submit", function () {
      setTimeout(function () { form.closest("details").open = false; }, 0);
    });
  });

  // Confirm before ending sessions on the "my sessions" page.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });
})();
