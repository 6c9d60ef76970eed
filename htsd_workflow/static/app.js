/* HTSĐ Workflow: small helpers on top of pages that work without JavaScript. */
(function () {
  "use strict";

  function each(selector, fn, root) {
    Array.prototype.forEach.call((root || document).querySelectorAll(selector), fn);
  }

  function number(text) {
    if (text === null || text === undefined) { return NaN; }
    var cleaned = String(text).trim().replace(",", ".");
    return cleaned === "" ? NaN : Number(cleaned);
  }

  function formatPoints(value) {
    var rounded = Math.round(value * 100) / 100;
    var lang = document.documentElement.lang || "vi";
    return rounded.toLocaleString(lang === "vi" ? "vi-VN" : "en-GB");
  }

  /* Buttons that cannot be undone ask first. */
  function setUpConfirmations() {
    each("[data-confirm]", function (button) {
      button.addEventListener("click", function (event) {
        if (!window.confirm(button.getAttribute("data-confirm"))) {
          event.preventDefault();
        }
      });
    });
  }

  /* The self-assessment: running total and pass/fail as the person types. */
  function setUpAssessment(form) {
    var passMark = number(form.getAttribute("data-pass-mark"));
    var total = form.querySelector("[data-total]");
    var result = form.querySelector("[data-result]");
    var inputs = form.querySelectorAll("input[data-max]");

    function update() {
      var sum = 0;
      var missing = 0;
      var invalid = 0;
      Array.prototype.forEach.call(inputs, function (input) {
        var value = number(input.value);
        var max = number(input.getAttribute("data-max"));
        var bad = input.value.trim() !== "" && (isNaN(value) || value < 0 || value > max);
        input.classList.toggle("invalid", bad);
        if (input.value.trim() === "") {
          missing += 1;
        } else if (bad) {
          invalid += 1;
        } else {
          sum += value;
        }
      });
      if (total) { total.textContent = formatPoints(sum); }
      if (!result) { return; }
      var text;
      var cls;
      if (invalid > 0) {
        text = result.getAttribute("data-text-invalid");
        cls = "fail";
      } else if (missing > 0) {
        text = result.getAttribute("data-text-incomplete").replace("%(num)s", String(missing));
        cls = "muted";
      } else if (sum >= passMark) {
        text = result.getAttribute("data-text-pass");
        cls = "pass";
      } else {
        text = result.getAttribute("data-text-fail");
        cls = "fail";
      }
      result.textContent = text;
      result.className = cls;
    }

    Array.prototype.forEach.call(inputs, function (input) {
      input.addEventListener("input", update);
    });
    update();
  }

  /* Evidence files: say at once when a file is too large, before anything is sent. */
  function setUpFileChecks() {
    each("input[type=file][data-max-bytes]", function (input) {
      input.addEventListener("change", function () {
        var max = Number(input.getAttribute("data-max-bytes"));
        var message = input.parentNode.querySelector("[data-file-error]");
        var tooLarge = [];
        Array.prototype.forEach.call(input.files || [], function (file) {
          if (file.size > max) { tooLarge.push(file.name); }
        });
        var text = tooLarge.length ? input.getAttribute("data-too-large") + " " + tooLarge.join(", ") : "";
        input.setCustomValidity(text);
        if (message) { message.textContent = text; }
      });
    });
  }

  /* The work queue: tick every row of the page at once, and count what is ticked. */
  function setUpQueueSelection() {
    each("[data-select-all]", function (master) {
      var form = master.form || document;
      var name = master.getAttribute("data-select-name") || "case_id";
      var boxes = form.querySelectorAll("input[name=" + name + "]");
      var counter = document.querySelector("[data-selected-count]");
      function count() {
        var ticked = 0;
        Array.prototype.forEach.call(boxes, function (box) { if (box.checked) { ticked += 1; } });
        if (counter) { counter.textContent = String(ticked); }
      }
      master.addEventListener("change", function () {
        Array.prototype.forEach.call(boxes, function (box) { box.checked = master.checked; });
        count();
      });
      Array.prototype.forEach.call(boxes, function (box) { box.addEventListener("change", count); });
      count();
    });
  }

  /* A background job (templates/_progress.html; the JSON of jobs.models.progress_of): move the progress bar until it is
     done (a total still unknown shows a bar without a value, which browsers animate). */
  function setUpProgress(box) {
    var url = box.getAttribute("data-progress-url");
    var bar = box.querySelector("progress");
    var label = box.querySelector("[data-progress-text]");
    var phase = box.querySelector("[data-progress-label]");
    function poll() {
      fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (job) {
          if (!job) { window.setTimeout(poll, 3000); return; }
          if (bar && job.total > 0) {
            bar.max = job.total;
            bar.value = Math.min(job.done, job.total);
          } else if (bar) {
            bar.removeAttribute("value");
          }
          if (label) { label.textContent = job.done + " / " + (job.total || "?"); }
          if (phase && job.label) { phase.textContent = job.label; }
          if (job.finished) { window.location.reload(); } else { window.setTimeout(poll, 1000); }
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    }
    window.setTimeout(poll, 500);
  }

  /* A part of a page that costs a second query (the bottleneck report's weekly trend): the
     page shows without it, then fetches it; the server renders the HTML. */
  function setUpFragment(slot) {
    fetch(slot.getAttribute("data-fragment-src"), {
      headers: { "X-Requested-With": "fetch" },
      credentials: "same-origin"
    })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.text();
      })
      .then(function (html) {
        slot.innerHTML = html;
        slot.removeAttribute("aria-busy");
      })
      .catch(function () {
        slot.textContent = slot.getAttribute("data-fragment-error");
        slot.removeAttribute("aria-busy");
        slot.classList.add("error");
      });
  }

  /* The village grid: each row totals itself as the assessment form does; Enter moves to the
     same criterion of the next household instead of sending the form. */
  function setUpGrid(form) {
    var rows = form.querySelectorAll("[data-grid-row]");
    Array.prototype.forEach.call(rows, setUpAssessment);
    form.addEventListener("keydown", function (event) {
      var input = event.target;
      if (event.key !== "Enter" || !input.matches || !input.matches("input[data-max]")) { return; }
      event.preventDefault();
      var row = input.closest("[data-grid-row]");
      var cells = Array.prototype.slice.call(row.querySelectorAll("input[data-max]"));
      var column = cells.indexOf(input);
      var next = row.nextElementSibling;
      while (next) {
        var target = next.querySelectorAll("input[data-max]")[column];
        if (target && !target.disabled) { target.focus(); target.select(); return; }
        next = next.nextElementSibling;
      }
    });
  }

  /* Phones: the menu folds behind one button. */
  function setUpMenu(button) {
    var bar = button.parentNode;
    button.hidden = false;
    button.addEventListener("click", function () {
      var open = bar.classList.toggle("open");
      button.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }

  document.documentElement.classList.add("js");
  document.addEventListener("DOMContentLoaded", function () {
    each(".menu-toggle", setUpMenu);
    setUpConfirmations();
    setUpFileChecks();
    setUpQueueSelection();
    each("form[data-assessment]", setUpAssessment);
    each("form[data-grid]", setUpGrid);
    each("[data-progress-url]", setUpProgress);
    each("[data-fragment-src]", setUpFragment);
  });
})();
