// The diversity map: a canvas scatter plot of every item (GET .../diversity/points), coloured by
// cluster, status or source; hover shows the item's preview (as text, never HTML), a click opens
// the item, and a box drawn by dragging (shift-drag, or "Box select" mode) selects points to tag
// or to save as a selection. No inline scripts anywhere (CSP: script-src 'self').
(function () {
  "use strict";

  var root = document.getElementById("diversity-map");
  if (!root) return;

  var canvas = document.getElementById("map-canvas");
  var frame = document.getElementById("map-frame");
  var box = document.getElementById("map-box");
  var tooltip = document.getElementById("map-tooltip");
  var tooltipMeta = tooltip.querySelector(".map-tooltip-meta");
  var tooltipText = tooltip.querySelector(".map-tooltip-text");
  var legend = document.getElementById("map-legend");
  var statusLine = document.getElementById("map-status");
  var colourSelect = document.getElementById("map-colour");
  var modeButton = document.getElementById("map-select-mode");
  var selectedLine = document.getElementById("map-selected");
  var clearButton = document.getElementById("map-clear");
  var actions = document.getElementById("map-actions");
  var tagForm = document.getElementById("map-tag-form");
  var selectionForm = document.getElementById("map-selection-form");
  var result = document.getElementById("map-result");

  var HEIGHT = 520;
  var PAD = 14;
  var CELL = 12; // hover grid cell, in CSS pixels
  var HIT = 7; // hover radius, in CSS pixels
  var PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#ad494a",
    "#637939", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354",
  ];
  var FIXED = {
    status: {
      draft: "#8b93a1", submitted: "#2563eb", approved: "#1f7a5a",
      rejected: "#b42318", needs_revision: "#c98a00",
    },
    source: { human: "#1f7a5a", synthetic: "#7c3aed", imported: "#2563eb" },
  };

  var points = [];
  var sx = new Float32Array(0);
  var sy = new Float32Array(0);
  var selected = new Uint8Array(0);
  var grid = new Map();
  var width = 0;
  var hovered = -1;
  var drag = null;
  var boxMode = false;

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function itemUrl(p) {
    return root.dataset.itemBase + (p.kind === "pair" ? "/pairs/" : "/examples/") + p.id;
  }

  function colourKey(p) {
    var by = colourSelect.value;
    if (by === "status") return p.status;
    if (by === "source") return p.source;
    return p.cluster === null ? "none" : String(p.cluster);
  }

  function colourOf(key) {
    var by = colourSelect.value;
    if (by !== "cluster") return FIXED[by][key] || "#444";
    var n = parseInt(key, 10);
    return isNaN(n) ? "#444" : PALETTE[n % PALETTE.length];
  }

  // -- layout ----------------------------------------------------------------------------------

  function layout() {
    width = frame.clientWidth || 600;
    var ratio = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(HEIGHT * ratio);
    canvas.style.width = width + "px";
    canvas.style.height = HEIGHT + "px";
    var minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
    points.forEach(function (p) {
      if (p.x < minX) minX = p.x;
      if (p.x > maxX) maxX = p.x;
      if (p.y < minY) minY = p.y;
      if (p.y > maxY) maxY = p.y;
    });
    var spanX = maxX - minX || 1;
    var spanY = maxY - minY || 1;
    sx = new Float32Array(points.length);
    sy = new Float32Array(points.length);
    grid = new Map();
    points.forEach(function (p, i) {
      sx[i] = PAD + ((p.x - minX) / spanX) * (width - 2 * PAD);
      sy[i] = PAD + ((maxY - p.y) / spanY) * (HEIGHT - 2 * PAD); // y grows upwards
      var key = Math.floor(sx[i] / CELL) + "," + Math.floor(sy[i] / CELL);
      var cell = grid.get(key);
      if (cell) cell.push(i); else grid.set(key, [i]);
    });
  }

  function draw() {
    var ctx = canvas.getContext("2d");
    var ratio = window.devicePixelRatio || 1;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, HEIGHT);
    var radius = points.length > 5000 ? 1.5 : points.length > 500 ? 2.5 : 3.5;
    var byColour = new Map();
    points.forEach(function (p, i) {
      var key = colourKey(p);
      var list = byColour.get(key);
      if (list) list.push(i); else byColour.set(key, [i]);
    });
    byColour.forEach(function (list, key) {
      ctx.fillStyle = colourOf(key);
      ctx.beginPath();
      list.forEach(function (i) {
        ctx.moveTo(sx[i] + radius, sy[i]);
        ctx.arc(sx[i], sy[i], radius, 0, 2 * Math.PI);
      });
      ctx.fill();
    });
    var anySelected = false;
    ctx.strokeStyle = "#111";
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    for (var i = 0; i < points.length; i++) {
      if (!selected[i]) continue;
      anySelected = true;
      ctx.moveTo(sx[i] + radius + 2, sy[i]);
      ctx.arc(sx[i], sy[i], radius + 2, 0, 2 * Math.PI);
    }
    if (anySelected) ctx.stroke();
    if (hovered >= 0) {
      ctx.strokeStyle = "#000";
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(sx[hovered], sy[hovered], radius + 3, 0, 2 * Math.PI);
      ctx.stroke();
    }
    drawLegend(byColour);
    root.dataset.points = String(points.length);
  }

  function drawLegend(byColour) {
    var entries = [];
    byColour.forEach(function (list, key) { entries.push([key, list.length]); });
    entries.sort(function (a, b) { return b[1] - a[1]; });
    legend.replaceChildren();
    var shown = entries.slice(0, 18);
    shown.forEach(function (entry) {
      var li = document.createElement("li");
      var swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = colourOf(entry[0]);
      var label = document.createElement("span");
      var name = colourSelect.value === "cluster" ? "cluster " + entry[0] : entry[0].replace("_", " ");
      label.textContent = name + " (" + entry[1].toLocaleString() + ")";
      li.appendChild(swatch);
      li.appendChild(label);
      legend.appendChild(li);
    });
    if (entries.length > shown.length) {
      var more = document.createElement("li");
      more.className = "muted";
      more.textContent = "+" + (entries.length - shown.length) + " more (colours repeat)";
      legend.appendChild(more);
    }
  }

  // -- hover and click ---------------------------------------------------------------------------

  function local(evt) {
    var rect = canvas.getBoundingClientRect();
    return { x: evt.clientX - rect.left, y: evt.clientY - rect.top };
  }

  function nearest(x, y) {
    var cx = Math.floor(x / CELL), cy = Math.floor(y / CELL);
    var best = -1, bestD = HIT * HIT;
    for (var dx = -1; dx <= 1; dx++) {
      for (var dy = -1; dy <= 1; dy++) {
        var cell = grid.get((cx + dx) + "," + (cy + dy));
        if (!cell) continue;
        for (var k = 0; k < cell.length; k++) {
          var i = cell[k];
          var d = (sx[i] - x) * (sx[i] - x) + (sy[i] - y) * (sy[i] - y);
          if (d <= bestD) { bestD = d; best = i; }
        }
      }
    }
    return best;
  }

  function showTooltip(i, at) {
    var p = points[i];
    var meta = p.kind + " " + p.id + " · cluster " + p.cluster + " · " +
      p.status.replace("_", " ") + " · " + p.source;
    if (p.dup_group !== null) meta += " · duplicate group " + p.dup_group;
    if (p.nn_sim !== null) meta += " · nearest " + p.nn_sim.toFixed(3);
    tooltipMeta.textContent = meta; // text, never HTML
    tooltipText.textContent = p.preview || "(empty)";
    tooltip.hidden = false;
    var left = Math.min(at.x + 14, width - tooltip.offsetWidth - 4);
    var top = at.y + 16;
    if (top + tooltip.offsetHeight > HEIGHT) top = Math.max(at.y - tooltip.offsetHeight - 12, 0);
    tooltip.style.left = Math.max(left, 0) + "px";
    tooltip.style.top = top + "px";
  }

  function hover(i, at) {
    if (i !== hovered) {
      hovered = i;
      draw();
    }
    if (i >= 0) {
      showTooltip(i, at);
      canvas.style.cursor = boxMode ? "crosshair" : "pointer";
    } else {
      tooltip.hidden = true;
      canvas.style.cursor = boxMode ? "crosshair" : "default";
    }
  }

  // -- box selection -----------------------------------------------------------------------------

  function showBox(a, b) {
    box.hidden = false;
    box.style.left = Math.min(a.x, b.x) + "px";
    box.style.top = Math.min(a.y, b.y) + "px";
    box.style.width = Math.abs(a.x - b.x) + "px";
    box.style.height = Math.abs(a.y - b.y) + "px";
  }

  function selectBox(a, b) {
    var x0 = Math.min(a.x, b.x), x1 = Math.max(a.x, b.x);
    var y0 = Math.min(a.y, b.y), y1 = Math.max(a.y, b.y);
    selected = new Uint8Array(points.length);
    for (var i = 0; i < points.length; i++) {
      if (sx[i] >= x0 && sx[i] <= x1 && sy[i] >= y0 && sy[i] <= y1) selected[i] = 1;
    }
    selectionChanged();
  }

  function selectedItems() {
    var examples = [], pairs = [];
    for (var i = 0; i < points.length; i++) {
      if (!selected[i]) continue;
      (points[i].kind === "pair" ? pairs : examples).push(points[i].id);
    }
    return { examples: examples, pairs: pairs };
  }

  function selectionChanged() {
    var count = 0;
    for (var i = 0; i < selected.length; i++) count += selected[i];
    root.dataset.selected = String(count);
    selectedLine.textContent = count ? count.toLocaleString() + " selected" : "";
    clearButton.hidden = count === 0;
    if (actions) actions.hidden = count === 0;
    draw();
  }

  canvas.addEventListener("mousedown", function (evt) {
    if (evt.button !== 0) return;
    var at = local(evt);
    drag = { start: at, box: boxMode || evt.shiftKey, moved: false };
    if (drag.box) evt.preventDefault(); // no text selection while drawing
  });

  window.addEventListener("mousemove", function (evt) {
    if (!points.length) return;
    var at = local(evt);
    if (drag) {
      if (Math.abs(at.x - drag.start.x) + Math.abs(at.y - drag.start.y) > 3) drag.moved = true;
      if (drag.box && drag.moved) {
        tooltip.hidden = true;
        showBox(drag.start, at);
        return;
      }
    }
    if (evt.target !== canvas) {
      if (hovered >= 0) hover(-1, at);
      return;
    }
    hover(nearest(at.x, at.y), at);
  });

  window.addEventListener("mouseup", function (evt) {
    if (!drag) return;
    var at = local(evt);
    var was = drag;
    drag = null;
    box.hidden = true;
    if (was.box && was.moved) {
      selectBox(was.start, at);
      return;
    }
    if (!was.moved && evt.target === canvas) {
      var i = nearest(at.x, at.y);
      if (i >= 0) window.location.assign(itemUrl(points[i]));
    }
  });

  canvas.addEventListener("mouseleave", function () {
    if (!drag && hovered >= 0) {
      hovered = -1;
      tooltip.hidden = true;
      draw();
    }
  });

  modeButton.addEventListener("click", function () {
    boxMode = !boxMode;
    modeButton.setAttribute("aria-pressed", boxMode ? "true" : "false");
    modeButton.classList.toggle("primary", boxMode);
    canvas.style.cursor = boxMode ? "crosshair" : "default";
  });

  clearButton.addEventListener("click", function () {
    selected = new Uint8Array(points.length);
    selectionChanged();
  });

  document.addEventListener("keydown", function (evt) {
    if (evt.key === "Escape" && drag) {
      drag = null;
      box.hidden = true;
    }
  });

  colourSelect.addEventListener("change", draw);

  // -- acting on the selection -------------------------------------------------------------------

  function say(message, isError) {
    result.replaceChildren();
    result.className = "small" + (isError ? " map-error" : "");
    if (typeof message === "string") result.textContent = message;
    else result.appendChild(message);
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRF-Token": csrfToken(),
      },
      body: JSON.stringify(body),
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var message = data && typeof data.message === "string" ? data.message
            : "The request failed (HTTP " + response.status + ").";
          throw new Error(message);
        }
        return data;
      });
    });
  }

  if (tagForm) {
    tagForm.addEventListener("submit", function (evt) {
      evt.preventDefault();
      var items = selectedItems();
      var tag = tagForm.elements.namedItem("tag").value;
      var button = tagForm.querySelector("button");
      button.disabled = true;
      post(root.dataset.tagUrl, { tag: tag, examples: items.examples, pairs: items.pairs })
        .then(function (data) {
          var text = "Tagged " + data.tagged.toLocaleString() + " item" +
            (data.tagged === 1 ? "" : "s") + " “" + data.tag + "”";
          if (data.unchanged) text += " (" + data.unchanged.toLocaleString() + " had it already)";
          say(text + ".", false);
          root.dataset.tagged = String(data.tagged);
        })
        .catch(function (err) { say(err.message, true); })
        .then(function () { button.disabled = false; });
    });
  }

  if (selectionForm) {
    selectionForm.addEventListener("submit", function (evt) {
      evt.preventDefault();
      var items = selectedItems();
      var name = selectionForm.elements.namedItem("name").value;
      var button = selectionForm.querySelector("button");
      button.disabled = true;
      post(root.dataset.selectionsUrl, { name: name, examples: items.examples, pairs: items.pairs })
        .then(function (data) {
          var line = document.createElement("span");
          line.appendChild(document.createTextNode(
            "Saved the selection “" + data.name + "” with " + data.item_count.toLocaleString() +
            " items. "));
          var link = document.createElement("a");
          link.href = root.dataset.exportsUrl;
          link.textContent = "Export it";
          line.appendChild(link);
          line.appendChild(document.createTextNode(" (choose it under Saved selection)."));
          say(line, false);
        })
        .catch(function (err) { say(err.message, true); })
        .then(function () { button.disabled = false; });
    });
  }

  // -- loading -----------------------------------------------------------------------------------

  function start(data) {
    points = data.points || [];
    selected = new Uint8Array(points.length);
    layout();
    draw();
    root.dataset.state = "ready";
    statusLine.textContent = points.length.toLocaleString() + " item" +
      (points.length === 1 ? "" : "s") + " from run " + data.run_id + ".";
    if (window.ResizeObserver) {
      var lastWidth = frame.clientWidth;
      new ResizeObserver(function () {
        if (frame.clientWidth === lastWidth) return;
        lastWidth = frame.clientWidth;
        layout();
        draw();
      }).observe(frame);
    }
  }

  // For tests and the console: where point `i` sits in the viewport.
  window.trellisDiversityMap = {
    count: function () { return points.length; },
    clientPoint: function (i) {
      var rect = canvas.getBoundingClientRect();
      return { x: rect.left + sx[i], y: rect.top + sy[i] };
    },
  };

  fetch(root.dataset.pointsUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) throw new Error(data && data.message ? data.message : "HTTP " + response.status);
        return data;
      });
    })
    .then(start)
    .catch(function (err) {
      root.dataset.state = "failed";
      statusLine.textContent = "The map could not be loaded: " + err.message;
    });
})();
