/* Report filters: framework, stage, status, account. Reads only data-* attributes and writes
   only `hidden` and textContent, so nothing from the findings can ever become markup. */
(function () {
  "use strict";
  var selects = Array.prototype.slice.call(document.querySelectorAll("select[data-filter]"));
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr[data-filterable]"));
  var counter = document.getElementById("filter-count");
  var reset = document.getElementById("filter-reset");
  function matches(row, key, value) {
    var have = row.getAttribute("data-" + key) || "";
    if (key === "framework") {
      return have.split(" ").indexOf(value) >= 0;
    }
    return have === value;
  }
  function apply() {
    var wanted = [];
    selects.forEach(function (select) {
      if (select.value) {
        wanted.push([select.getAttribute("data-filter"), select.value]);
      }
    });
    var shown = 0;
    rows.forEach(function (row) {
      var ok = wanted.every(function (pair) { return matches(row, pair[0], pair[1]); });
      row.hidden = !ok;
      if (ok && row.getAttribute("data-table") === "all") {
        shown += 1;
      }
    });
    if (counter) {
      counter.textContent = String(shown);
    }
  }
  selects.forEach(function (select) { select.addEventListener("change", apply); });
  if (reset) {
    reset.addEventListener("click", function () {
      selects.forEach(function (select) { select.value = ""; });
      apply();
    });
  }
  document.documentElement.setAttribute("data-filters-ready", "1");
  apply();
})();
