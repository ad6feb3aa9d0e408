// The labeling view: keyboard shortcuts, edit mode, adding/removing turns and draft autosave.
// No inline scripts (CSP: script-src 'self'); user text is only ever set with textContent/value.
(function () {
  "use strict";

  var form = document.getElementById("label-form");
  if (!form) return;

  var AUTOSAVE_MS = 1500;
  var kind = form.getAttribute("data-kind");
  var draftUrl = form.getAttribute("data-draft-url");
  var statusBox = document.getElementById("draft-status");
  var overlay = document.getElementById("shortcuts");
  var turnsBox = document.getElementById("turns");
  var template = document.getElementById("turn-template");
  var undoForm = document.getElementById("undo-form");
  var guidelines = document.getElementById("guidelines");
  var dirty = false;
  var submitting = false;
  var timer = null;
  var saving = null;

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function setStatus(text, isError) {
    if (!statusBox) return;
    statusBox.textContent = text;
    statusBox.classList.toggle("draft-error", !!isError);
  }

  // --- reading the form -------------------------------------------------------------------

  function field(name) {
    return form.elements.namedItem(name);
  }

  function checkedValue(name) {
    var box = form.querySelector('input[name="' + name + '"]:checked');
    return box ? box.value : "";
  }

  function collectTurns() {
    if (!turnsBox) return [];
    var turns = [];
    turnsBox.querySelectorAll(".turn-row").forEach(function (row) {
      var key = row.getAttribute("data-key");
      var src = field("src_" + key);
      var role = field("role_" + key);
      var content = field("content_" + key);
      turns.push({
        src: src && src.value !== "" ? Number(src.value) : null,
        role: role ? role.value : "",
        content: content ? content.value : null,
      });
    });
    return turns;
  }

  function payload() {
    var rating = checkedValue("rating");
    var tags = [];
    form.querySelectorAll('input[name="tags"]:checked').forEach(function (box) {
      tags.push(box.value);
    });
    var edited = field("edited").value === "1";
    var draft = { edited: edited };
    if (edited) draft.turns = collectTurns();
    if (kind === "pair") draft.choice = checkedValue("choice");
    return {
      version: Number(field("version").value),
      draft: draft,
      rating: rating ? Number(rating) : null,
      tags: tags,
      note: field("note").value,
    };
  }

  // --- autosave ----------------------------------------------------------------------------

  function save(keepalive) {
    clearTimeout(timer);
    timer = null;
    if (!dirty || submitting || !draftUrl) return;
    dirty = false;
    setStatus("Saving draft…");
    saving = fetch(draftUrl, {
      method: "PUT",
      credentials: "same-origin",
      keepalive: !!keepalive,
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
      body: JSON.stringify(payload()),
    })
      .then(function (response) {
        if (response.ok) {
          if (!dirty) setStatus("Draft saved");
          return;
        }
        dirty = true;
        return response
          .json()
          .catch(function () { return {}; })
          .then(function (body) {
            var why = body && typeof body.message === "string" ? body.message : "HTTP " + response.status;
            setStatus("Draft not saved: " + why, true);
          });
      })
      .catch(function () {
        dirty = true;
        setStatus("Draft not saved: the server is unreachable", true);
      });
  }

  function changed() {
    dirty = true;
    setStatus("Unsaved changes");
    clearTimeout(timer);
    timer = setTimeout(save, AUTOSAVE_MS);
  }

  function markEdited() {
    field("edited").value = "1";
  }

  form.addEventListener("input", function (evt) {
    if (evt.target instanceof Element && evt.target.closest(".turn-row")) markEdited();
    changed();
  });
  form.addEventListener("change", function (evt) {
    if (evt.target instanceof Element && evt.target.closest(".turn-row")) markEdited();
    changed();
  });
  form.addEventListener("submit", function (evt) {
    if (submitting) {
      evt.preventDefault(); // a second Ctrl+Enter while the first post is on its way
      return;
    }
    submitting = true; // the post carries everything; don't race it with a draft save
    clearTimeout(timer);
  });
  window.addEventListener("beforeunload", function () {
    if (dirty && !submitting) save(true);
  });
  window.addEventListener("pagehide", function () {
    if (dirty && !submitting) save(true);
  });

  // --- edit mode and turns ---------------------------------------------------------------

  function editing() {
    return form.classList.contains("editing");
  }

  function firstEditable() {
    var boxes = form.querySelectorAll(".turn-text:not([readonly])");
    for (var i = 0; i < boxes.length; i++) {
      if (boxes[i].getAttribute("data-role") === "assistant") return boxes[i];
    }
    return boxes.length ? boxes[0] : null;
  }

  function setEditing(on) {
    form.classList.toggle("editing", on);
    var toggle = form.querySelector("[data-edit-toggle]");
    if (toggle) toggle.setAttribute("aria-pressed", on ? "true" : "false");
    if (on) {
      var box = firstEditable();
      if (box) {
        box.focus();
        box.setSelectionRange(box.value.length, box.value.length);
      }
    }
  }

  function lastRow() {
    var rows = turnsBox ? turnsBox.querySelectorAll(".turn-row") : [];
    return rows.length ? rows[rows.length - 1] : null;
  }

  function rowRole(row) {
    var key = row.getAttribute("data-key");
    var role = field("role_" + key);
    return role ? role.value : "";
  }

  // R (and E on an item with no answer yet): into the final assistant turn, adding it when the
  // conversation does not end with one, so typing goes straight into the answer.
  function answer() {
    var row = lastRow();
    var box = row ? row.querySelector(".turn-text:not([readonly])") : null;
    if (row && box && rowRole(row) === "assistant") {
      if (!editing()) setEditing(true);
      box.focus();
      box.setSelectionRange(box.value.length, box.value.length);
      return;
    }
    addTurn();
  }

  function needsAnswer() {
    var row = lastRow();
    return !row || rowRole(row) !== "assistant";
  }

  function addTurn() {
    if (!turnsBox || !template) return;
    var key = Number(turnsBox.getAttribute("data-next-key") || "0");
    turnsBox.setAttribute("data-next-key", String(key + 1));
    var row = template.content.firstElementChild.cloneNode(true);
    row.setAttribute("data-key", String(key));
    row.querySelector('input[name="turn"]').value = String(key);
    row.querySelector('input[name="src_"]').name = "src_" + key;
    row.querySelector('select[name="role_"]').name = "role_" + key;
    var text = row.querySelector('textarea[name="content_"]');
    text.name = "content_" + key;
    turnsBox.appendChild(row);
    if (!editing()) setEditing(true);
    markEdited();
    changed();
    text.focus();
    row.scrollIntoView({ block: "nearest" });
  }

  form.addEventListener("click", function (evt) {
    var target = evt.target;
    if (!(target instanceof Element)) return;
    if (target.closest("[data-edit-toggle]")) {
      evt.preventDefault();
      setEditing(!editing());
    } else if (target.closest("[data-add-turn]")) {
      evt.preventDefault();
      addTurn();
    } else if (target.closest("[data-add-answer]")) {
      evt.preventDefault();
      answer();
    } else if (target.closest("[data-remove-turn]")) {
      evt.preventDefault();
      var row = target.closest(".turn-row");
      if (row) {
        row.remove();
        markEdited();
        changed();
      }
    }
  });

  // --- keyboard ------------------------------------------------------------------------------

  function toggleShortcuts(show) {
    if (!overlay) return;
    overlay.hidden = show === undefined ? !overlay.hidden : !show;
  }
  document.addEventListener("click", function (evt) {
    if (evt.target instanceof Element && evt.target.closest("[data-shortcuts-toggle]")) {
      toggleShortcuts();
    }
  });

  function isTyping(el) {
    if (!(el instanceof Element)) return false;
    if (el.isContentEditable) return true;
    var tag = el.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    if (tag !== "INPUT") return false;
    var type = (el.getAttribute("type") || "text").toLowerCase();
    return ["checkbox", "radio", "button", "submit", "reset", "hidden"].indexOf(type) === -1;
  }

  function pick(name, value) {
    var box = form.querySelector('input[name="' + name + '"][value="' + value + '"]');
    if (!box) return;
    box.checked = true;
    box.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function submitWith(action) {
    var button = form.querySelector('button[name="action"][value="' + action + '"]');
    if (!button) return;
    if (typeof form.requestSubmit === "function") form.requestSubmit(button);
    else button.click();
  }

  document.addEventListener("keydown", function (evt) {
    if (evt.defaultPrevented || evt.isComposing) return;
    if ((evt.ctrlKey || evt.metaKey) && evt.key === "Enter") {
      evt.preventDefault(); // works everywhere, also while typing
      submitWith("submit");
      return;
    }
    if (evt.key === "Escape") {
      if (overlay && !overlay.hidden) {
        toggleShortcuts(false);
      } else if (isTyping(document.activeElement)) {
        document.activeElement.blur();
      }
      return;
    }
    if (evt.ctrlKey || evt.metaKey || evt.altKey || isTyping(evt.target)) return;
    var key = evt.key;
    if (key >= "1" && key <= "5" && key.length === 1) {
      pick("rating", key);
    } else if (key === "s" || key === "S") {
      submitWith("skip");
    } else if (key === "d" || key === "D") {
      submitWith("discard");
    } else if ((key === "u" || key === "U") && undoForm) {
      undoForm.submit();
    } else if ((key === "g" || key === "G") && guidelines) {
      guidelines.open = !guidelines.open;
      if (guidelines.open) guidelines.scrollIntoView({ block: "nearest" });
    } else if ((key === "e" || key === "E") && turnsBox) {
      if (!editing() && needsAnswer()) answer();
      else setEditing(!editing());
    } else if ((key === "r" || key === "R") && turnsBox) {
      answer();
    } else if (key === "?") {
      toggleShortcuts();
    } else if (kind === "pair" && (key === "a" || key === "A")) {
      pick("choice", "a");
    } else if (kind === "pair" && (key === "b" || key === "B")) {
      pick("choice", "b");
    } else if (kind === "pair" && (key === "t" || key === "T")) {
      pick("choice", "tie");
    } else {
      return;
    }
    evt.preventDefault(); // e.g. the "e" must not land in the textarea E just focused
  });
})();
