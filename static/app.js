// Trellis page behaviour. No inline scripts anywhere (CSP: script-src 'self').
(function () {
  "use strict";

  if (window.htmx) {
    // Belt and braces with the htmx-config meta tag: never evaluate code from attributes,
    // never talk to another origin.
    htmx.config.allowEval = false;
    htmx.config.selfRequestsOnly = true;
    htmx.config.includeIndicatorStyles = false;
    htmx.config.historyCacheSize = 0;
    htmx.config.refreshOnHistoryMiss = true;
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function showToast(message, isError) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var toast = document.createElement("div");
    toast.className = "toast" + (isError ? " toast-error" : "");
    toast.setAttribute("role", "alert");
    var text = document.createElement("span");
    text.className = "toast-message";
    text.textContent = message; // text, never HTML
    var close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("data-dismiss", "toast");
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "\u00d7";
    toast.appendChild(text);
    toast.appendChild(close);
    box.appendChild(toast);
  }

  function errorText(xhr) {
    var type = xhr.getResponseHeader("Content-Type") || "";
    if (type.indexOf("application/json") === 0) {
      try {
        var body = JSON.parse(xhr.responseText);
        if (body && typeof body.message === "string") return body.message;
      } catch (e) { /* fall through */ }
    }
    return "The request failed (HTTP " + xhr.status + "). Reload the page and try again.";
  }

  document.addEventListener("htmx:configRequest", function (evt) {
    evt.detail.headers["X-CSRF-Token"] = csrfToken();
    if (evt.detail.verb === "get") {
      // Keep filter URLs short and shareable: drop empty fields ("any status", blank search).
      var params = evt.detail.parameters;
      Object.keys(params).forEach(function (key) {
        if (params[key] === "") delete params[key];
      });
    }
  });

  // Error answers: the server sends either a form re-rendered with field errors (422) or a toast
  // retargeted into #toasts; htmx swaps neither by default. Anything else becomes a toast here.
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var xhr = evt.detail.xhr;
    if (xhr.status < 400) return;
    if (xhr.status === 422 || xhr.getResponseHeader("HX-Retarget")) {
      evt.detail.shouldSwap = true;
      evt.detail.isError = false;
    } else {
      showToast(errorText(xhr), true);
    }
  });

  document.addEventListener("htmx:sendError", function () {
    showToast("Could not reach the server. Check your connection and try again.", true);
  });

  // Upload progress for the import form.
  document.addEventListener("htmx:xhr:progress", function (evt) {
    var bar = evt.target.querySelector && evt.target.querySelector("[data-upload-progress]");
    if (bar && evt.detail.lengthComputable) {
      bar.value = Math.round((100 * evt.detail.loaded) / evt.detail.total);
    }
  });

  document.addEventListener("click", function (evt) {
    var target = evt.target;
    if (!(target instanceof Element)) return;
    var dismiss = target.closest('[data-dismiss="toast"]');
    if (dismiss) {
      var toast = dismiss.closest(".toast");
      if (toast) toast.remove();
      return;
    }
    if (target.closest("[data-back]")) {
      evt.preventDefault();
      history.back();
    }
  });

  // A new toast replaces older ones with the same text (a failing poll would stack them up);
  // toasts that aren't errors fade on their own, errors stay until dismissed.
  function settleToast(node) {
    var text = node.textContent;
    document.querySelectorAll("#toasts .toast").forEach(function (other) {
      if (other !== node && other.textContent === text) other.remove();
    });
    if (!node.classList.contains("toast-error")) {
      setTimeout(function () { node.remove(); }, 6000);
    }
  }
  var observer = new MutationObserver(function (records) {
    records.forEach(function (record) {
      record.addedNodes.forEach(function (node) {
        if (node instanceof Element && node.classList.contains("toast")) settleToast(node);
      });
    });
  });
  function watchToasts() {
    var box = document.getElementById("toasts");
    if (box) observer.observe(box, { childList: true });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", watchToasts);
  } else {
    watchToasts();
  }
})();
