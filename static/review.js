// Review view keys: A approve, R reject, X swap, N next, ? the shortcut list. A decision moves
// on to the next item unless "stay" is ticked (remembered in localStorage).
// Elements opt in with data-review-key; keys are ignored while typing and with modifiers.
(function () {
  "use strict";

  var KEYS = { a: true, r: true, x: true, n: true };
  var busy = false;

  function typing(target) {
    if (!(target instanceof Element)) return false;
    return Boolean(target.closest("input, textarea, select, [contenteditable]:not([contenteditable='false'])"));
  }

  function shortcuts() {
    return document.getElementById("review-shortcuts");
  }

  function toggleShortcuts() {
    var dialog = shortcuts();
    if (!dialog) return;
    if (dialog.open) {
      dialog.close();
    } else if (typeof dialog.showModal === "function") {
      dialog.showModal();
    } else {
      dialog.setAttribute("open", "");
    }
  }

  function activate(el) {
    if (el.tagName === "A") {
      busy = true;
      window.location.assign(el.getAttribute("href"));
      return;
    }
    if (el.disabled || !el.form) return;
    busy = true;
    if (typeof el.form.requestSubmit === "function") {
      el.form.requestSubmit(el);
    } else {
      el.click();
    }
  }

  document.addEventListener("keydown", function (evt) {
    if (evt.defaultPrevented || evt.ctrlKey || evt.metaKey || evt.altKey || evt.isComposing) return;
    if (typing(evt.target)) return;
    if (evt.key === "?") {
      evt.preventDefault();
      toggleShortcuts();
      return;
    }
    var dialog = shortcuts();
    if (dialog && dialog.open) return;
    var key = (evt.key || "").toLowerCase();
    if (!KEYS[key] || busy) return;
    var el = document.querySelector('[data-review-key="' + key + '"]');
    if (!el) return;
    evt.preventDefault();
    activate(el);
  });

  document.addEventListener("click", function (evt) {
    var target = evt.target;
    if (target instanceof Element && target.closest("[data-shortcuts-open]")) {
      evt.preventDefault();
      toggleShortcuts();
    }
  });

  // A form that was submitted once (by key or click) is not sent twice.
  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    if (!(form instanceof HTMLFormElement) || form.method === "dialog") return;
    if (form.dataset.sent) {
      evt.preventDefault();
      return;
    }
    form.dataset.sent = "1";
  });

  // "Stay after deciding" is remembered in this browser.
  document.querySelectorAll("input[data-remember]").forEach(function (box) {
    var key = box.getAttribute("data-remember");
    try {
      box.checked = window.localStorage.getItem(key) === "1";
    } catch (e) {
      return;
    }
    box.addEventListener("change", function () {
      try {
        window.localStorage.setItem(key, box.checked ? "1" : "0");
      } catch (e) {
        /* storage refused: the box still works for this page */
      }
    });
  });

  // Coming back through the browser cache must not leave the page locked.
  window.addEventListener("pageshow", function () {
    busy = false;
    document.querySelectorAll("form[data-sent]").forEach(function (form) {
      delete form.dataset.sent;
    });
  });
})();
