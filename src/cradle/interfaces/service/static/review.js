/* cradle review page: the clinical rules in the browser, and keyboard shortcuts.
 *
 * applyClinicalRules is a port of cradle.labels.apply_clinical_rules: same rules, same order,
 * same messages. Its tables (labels, crisis types, severity pairs) come from the server in
 * <script id="rules-data">, and the server applies the rules again to every submitted set.
 */
(function () {
  "use strict";

  var dataNode = document.getElementById("rules-data");
  if (!dataNode) { return; }
  var RULES = JSON.parse(dataNode.textContent);

  function applyClinicalRules(labels) {
    var current = new Set(labels);
    var fired = [];
    RULES.severityPairs.forEach(function (pair) {
      ["ongoing", "past"].forEach(function (frame) {
        var hi = pair[0] + "_" + frame, lo = pair[1] + "_" + frame;
        if (current.has(hi) && current.has(lo)) {
          current.delete(lo);
          fired.push({rule: "severity", removed: lo, kept: hi, message: hi + " subsumes " + lo + " in the same time frame"});
        }
      });
    });
    RULES.crisisTypes.forEach(function (type) {
      var now = type + "_ongoing", before = type + "_past";
      if (current.has(now) && current.has(before)) {
        current.delete(before);
        fired.push({rule: "ongoing_over_past", removed: before, kept: now, message: type + " is both ongoing and past: only " + now + " is kept"});
      }
    });
    var crises = RULES.labels.filter(function (x) { return x !== RULES.noCrisis && current.has(x); });
    if (current.has(RULES.noCrisis) && crises.length) {
      current.delete(RULES.noCrisis);
      fired.push({rule: "no_crisis_alone", removed: RULES.noCrisis, kept: crises[0], message: "no_crisis cannot stand beside a crisis label"});
    }
    return {labels: RULES.labels.filter(function (x) { return current.has(x); }), fired: fired};
  }
  window.cradleApplyClinicalRules = applyClinicalRules;

  var form = document.getElementById("decision-form");
  if (!form) { return; }
  var boxes = Array.prototype.slice.call(form.querySelectorAll("input[type=checkbox][name=labels]"));
  var byKey = {};
  boxes.forEach(function (b) { byKey[b.dataset.key] = b; });
  var note = document.getElementById("note");
  var messages = document.getElementById("rule-messages");
  var initial = JSON.stringify(checked()) + "\u0000" + (note ? note.value : "");
  var leaveArmed = null;

  function checked() { return boxes.filter(function (b) { return b.checked; }).map(function (b) { return b.value; }); }
  function dirty() { return JSON.stringify(checked()) + "\u0000" + (note ? note.value : "") !== initial; }

  function say(lines, kind) {
    messages.innerHTML = "";
    lines.forEach(function (line) {
      var li = document.createElement("li");
      if (kind) { li.className = kind; }
      if (line.strong) {
        var s = document.createElement("strong");
        s.textContent = line.strong + " ";
        li.appendChild(s);
      }
      li.appendChild(document.createTextNode(line.text));
      messages.appendChild(li);
    });
  }

  function setLabels(labels) {
    var result = applyClinicalRules(labels);
    boxes.forEach(function (b) {
      var on = result.labels.indexOf(b.value) >= 0;
      if (b.checked && !on) {
        var cell = b.closest("label");
        cell.classList.remove("flash");
        void cell.offsetWidth;
        cell.classList.add("flash");
      }
      b.checked = on;
    });
    say(result.fired.map(function (f) { return {strong: "Rule applied:", text: f.message}; }), "rule");
    leaveArmed = null;
  }

  boxes.forEach(function (b) {
    b.addEventListener("change", function () { setLabels(checked()); });
  });

  function typing(el) {
    return el && (el.tagName === "TEXTAREA" || (el.tagName === "INPUT" && el.type !== "checkbox"));
  }

  function save() {
    if (!checked().length) {
      say([{strong: "Not saved:", text: "choose at least one label (n for No crisis when nothing applies)."}], "error");
      return;
    }
    form.requestSubmit(document.getElementById("save"));
  }

  function go(linkId, direction) {
    var link = document.getElementById(linkId);
    if (!link) {
      say([{text: direction === "next" ? "This is the last post." : "This is the first post."}], "");
      return;
    }
    if (dirty() && leaveArmed !== linkId) {
      leaveArmed = linkId;
      say([{strong: "Unsaved changes.", text: "Press " + (direction === "next" ? "\u2192" : "\u2190") + " again to leave without saving, or Enter to save."}], "error");
      return;
    }
    window.location.href = link.href;
  }

  document.addEventListener("keydown", function (ev) {
    var el = document.activeElement;
    if (typing(el)) {
      if (ev.key === "Escape") { el.blur(); ev.preventDefault(); }
      else if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey) && el === note) { ev.preventDefault(); save(); }
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    var key = ev.key;
    if (key === "Enter") {
      if (el && (el.tagName === "BUTTON" || el.tagName === "A")) { return; }
      ev.preventDefault();
      save();
      return;
    }
    if (key === "ArrowRight") { ev.preventDefault(); go("next-link", "next"); return; }
    if (key === "ArrowLeft") { ev.preventDefault(); go("prev-link", "previous"); return; }
    if (key === "?") { var help = document.getElementById("help"); help.open = !help.open; return; }
    var lower = key.length === 1 ? key.toLowerCase() : key;
    if (byKey[lower]) {
      ev.preventDefault();
      var box = byKey[lower];
      box.checked = !box.checked;
      setLabels(checked());
      return;
    }
    if (lower === "x") { ev.preventDefault(); setLabels([]); return; }
    if (lower === "c" && note) { ev.preventDefault(); note.focus(); return; }
    var row = document.querySelector('.vote-row[data-key="' + lower + '"]');
    if (row) {
      ev.preventDefault();
      var labels = JSON.parse(row.dataset.labels);
      if (labels === null) {
        say([{text: lower === "v" ? "There is no vote to take: the models have no majority." : "That model gave no answer for this post."}], "error");
        return;
      }
      setLabels(labels);
      return;
    }
  });

  window.addEventListener("beforeunload", function (ev) {
    if (form.dataset.submitting !== "1" && dirty() && leaveArmed === null) { ev.preventDefault(); ev.returnValue = ""; }
  });
  form.addEventListener("submit", function () { form.dataset.submitting = "1"; });
})();
