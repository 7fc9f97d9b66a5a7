/* The HTML edition's only script: the virtualised "All findings" table, its filters
   (framework, stage, status, account) and the inline evidence viewer.
   Findings and evidence arrive as JSON data blocks; only the rows in view are drawn, and filters
   run over the data arrays, so an organisation's 100,000 findings open and filter quickly.
   Values are written only through textContent and data-* attributes, so nothing from the findings
   can ever become markup. */
(function () {
  "use strict";
  var ROW_HEIGHT = 22;
  var OVERSCAN = 20;

  function readJson(id, fallback) {
    var node = document.getElementById(id);
    if (!node) {
      return fallback;
    }
    try {
      return JSON.parse(node.textContent || "null") || fallback;
    } catch (err) {
      return fallback;
    }
  }

  var data = readJson("findings-data", { columns: [], rows: [] });
  var evidence = readJson("evidence-data", {});
  var col = {};
  data.columns.forEach(function (name, i) { col[name] = i; });
  var rows = data.rows;
  var values = data.values || {};  // column -> distinct values; rows hold indices into them

  function get(row, name) {
    var raw = row[col[name]];
    var table = values[name];
    var value = table ? table[raw] : raw;
    return value == null ? "" : String(value);
  }
  var SHOWN = ["control_id", "status", "severity", "stage", "account", "region",
    "resource_type", "resource_id", "reason", "requirements", "waiver"];

  var selects = Array.prototype.slice.call(document.querySelectorAll("select[data-filter]"));
  var counter = document.getElementById("filter-count");
  var reset = document.getElementById("filter-reset");
  var scroller = document.getElementById("all-findings-scroll");
  var body = document.getElementById("all-findings-body");
  var filtered = [];
  var drawnFrom = -1;
  var drawnTo = -1;

  function keyOf(filter) {
    return filter === "framework" ? "frameworks" : filter;
  }

  function matches(filter, have, value) {
    if (filter === "framework") {
      return (" " + have + " ").indexOf(" " + value + " ") >= 0;
    }
    return have === value;
  }

  function applyFilters() {
    // Each filter becomes [column index, allowed[distinct value index]]: the loop over the
    // rows then compares integers only.
    var wanted = [];
    selects.forEach(function (select) {
      var filter = select.getAttribute("data-filter");
      var name = keyOf(filter);
      if (select.value && col[name] !== undefined) {
        var table = values[name] || [];
        wanted.push([col[name], table.map(function (have) {
          return matches(filter, have == null ? "" : String(have), select.value);
        })]);
      }
    });
    var out = [];
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i];
      var ok = true;
      for (var w = 0; w < wanted.length && ok; w++) {
        ok = wanted[w][1][row[wanted[w][0]]] === true;
      }
      if (ok) {
        out.push(i);
      }
    }
    filtered = out;
    if (counter) {
      counter.textContent = String(filtered.length);
    }
    if (scroller) {
      scroller.scrollTop = 0;
    }
    drawnFrom = drawnTo = -1;
    draw();
  }

  function spacer(height) {
    var tr = document.createElement("tr");
    tr.className = "spacer";
    var td = document.createElement("td");
    td.colSpan = SHOWN.length;
    td.style.height = height + "px";
    tr.appendChild(td);
    return tr;
  }

  function cell(tr, text, className) {
    var td = document.createElement("td");
    if (className) {
      td.className = className;
    }
    td.textContent = text;
    td.title = text;
    tr.appendChild(td);
    return td;
  }

  function rowElement(index) {
    var row = rows[index];
    var tr = document.createElement("tr");
    tr.setAttribute("data-table", "all");
    tr.setAttribute("data-index", String(index));
    tr.setAttribute("data-status", get(row, "status"));
    tr.setAttribute("data-stage", get(row, "stage"));
    tr.setAttribute("data-account", get(row, "account"));
    tr.setAttribute("data-framework", get(row, "frameworks"));
    var sha = get(row, "evidence_sha256");
    SHOWN.forEach(function (name) {
      var value = get(row, name);
      if (name === "status") {
        var td = document.createElement("td");
        var badge = document.createElement("span");
        badge.className = "badge s-" + value.replace(/[^A-Z_]/g, "");
        badge.textContent = value.replace(/_/g, " ");
        td.appendChild(badge);
        tr.appendChild(td);
        return;
      }
      var created = cell(tr, value, name === "control_id" || name === "resource_id" ? "id" : "");
      if (name === "resource_id" && sha && Object.prototype.hasOwnProperty.call(evidence, sha)) {
        var button = document.createElement("button");
        button.type = "button";
        button.className = "evbtn";
        button.setAttribute("data-evidence", sha);
        button.textContent = "evidence";
        created.textContent = "";
        created.appendChild(button);
        created.appendChild(document.createTextNode(" " + value));
      }
    });
    return tr;
  }

  function draw() {
    if (!body || !scroller) {
      return;
    }
    var top = scroller.scrollTop;
    var height = scroller.clientHeight || 600;
    var from = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    var to = Math.min(filtered.length, Math.ceil((top + height) / ROW_HEIGHT) + OVERSCAN);
    if (from === drawnFrom && to === drawnTo) {
      return;
    }
    drawnFrom = from;
    drawnTo = to;
    var fragment = document.createDocumentFragment();
    fragment.appendChild(spacer(from * ROW_HEIGHT));
    for (var i = from; i < to; i++) {
      fragment.appendChild(rowElement(filtered[i]));
    }
    fragment.appendChild(spacer((filtered.length - to) * ROW_HEIGHT));
    body.textContent = "";
    body.appendChild(fragment);
  }

  var viewer = document.getElementById("evidence-viewer");
  function showEvidence(sha) {
    if (!viewer || !Object.prototype.hasOwnProperty.call(evidence, sha)) {
      return;
    }
    document.getElementById("evidence-sha").textContent = sha;
    document.getElementById("evidence-json").textContent = JSON.stringify(evidence[sha], null, 2);
    viewer.hidden = false;
  }
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target && target.getAttribute && target.getAttribute("data-evidence")) {
      showEvidence(target.getAttribute("data-evidence"));
    } else if (target && target.id === "evidence-close" && viewer) {
      viewer.hidden = true;
    }
  });

  selects.forEach(function (select) { select.addEventListener("change", applyFilters); });
  if (reset) {
    reset.addEventListener("click", function () {
      selects.forEach(function (select) { select.value = ""; });
      applyFilters();
    });
  }
  if (scroller) {
    scroller.addEventListener("scroll", draw, { passive: true });
  }
  applyFilters();
  document.documentElement.setAttribute("data-filters-ready", "1");
})();
