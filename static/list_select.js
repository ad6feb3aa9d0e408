// Row selection on the Examples and Pairs lists: "pick all on this page" and the count of
// ticked rows in the bulk bar. Rows loaded later ("Load more") join in (event delegation).
(function () {
  "use strict";

  function boxes() {
    return document.querySelectorAll('input[type="checkbox"][name="ids"][form="bulk-form"]');
  }

  function refresh() {
    var picked = 0;
    boxes().forEach(function (box) {
      if (box.checked) picked += 1;
    });
    document.querySelectorAll("[data-picked-count]").forEach(function (el) {
      el.textContent = String(picked);
    });
  }

  document.addEventListener("change", function (evt) {
    var target = evt.target;
    if (!(target instanceof HTMLInputElement)) return;
    if (target.hasAttribute("data-pick-all")) {
      boxes().forEach(function (box) {
        box.checked = target.checked;
      });
    }
    if (target.hasAttribute("data-pick-all") || target.name === "ids") refresh();
  });
  document.addEventListener("htmx:afterSwap", refresh);
})();
