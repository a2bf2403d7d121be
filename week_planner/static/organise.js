// The organisers' desk editor (templates/organise/editor.html), made handier: line numbers
// that follow the text as it is typed, a text area that grows with it (so each number
// stays beside its line), the check run while typing (debounced, through the page's
// /organise/<programme>/check) with every problem marked at its line, and problem links
// that put the cursor on their line. Without this script the page works by submitting
// its form: the buttons check, preview and publish.
"use strict";

(function () {
  const form = document.getElementById("editor");
  const text = document.getElementById("text");
  const gutter = document.getElementById("gutter");
  const list = document.getElementById("problem-list");
  const summary = document.getElementById("problems-summary");
  if (!form || !text || !gutter || !list || !summary || !window.fetch) return;

  const checkUrl = form.dataset.checkUrl;
  const csrf = form.querySelector("input[name=csrf_token]");
  const DELAY = 600; // ms after the last key before the text is checked
  const persian = (value) => String(value).replace(/\d/g, (d) => "۰۱۲۳۴۵۶۷۸۹"[d]);
  let marks = {};
  let timer = null;
  let running = null;

  function lineCount() {
    const value = text.value;
    let count = 1;
    for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) === 10) count++;
    if (value.endsWith("\n")) count--;
    return Math.max(count, 1);
  }

  function drawGutter() {
    const count = lineCount();
    const items = gutter.children;
    while (items.length > count) gutter.removeChild(gutter.lastChild);
    for (let number = items.length + 1; number <= count; number++) {
      const item = document.createElement("li");
      item.id = "line-" + number;
      item.textContent = persian(number);
      gutter.appendChild(item);
    }
    for (let i = 0; i < items.length; i++) {
      const mark = marks[i + 1];
      items[i].className = mark ? "marked-" + mark : "";
    }
    text.rows = count + 2;
  }

  function summaryText(errors, warnings) {
    if (errors) {
      return persian(errors) + " خطا" + (warnings ? " و " + persian(warnings) + " هشدار" : "") +
        "؛ تا درست نشود منتشر نمی‌شود.";
    }
    if (warnings) return persian(warnings) + " هشدار؛ می‌توان منتشر کرد.";
    return "بی‌خطا؛ آمادهٔ پیش‌نمایش و انتشار.";
  }

  // Each «quoted value» of a message set apart for the bidi algorithm, as the server
  // does: a date such as «1404-06-32» inside Persian text would otherwise read 32-06-1404.
  function isolateQuoted(element, message) {
    const parts = message.split(/«([^»]*)»/);
    parts.forEach((part, index) => {
      if (index % 2 === 0) {
        element.append(part);
        return;
      }
      const quoted = document.createElement("bdi");
      quoted.dir = /[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]/.test(part) ? "auto" : "ltr";
      quoted.textContent = part;
      element.append("«", quoted, "»");
    });
  }

  function showProblems(result) {
    marks = {};
    list.replaceChildren();
    for (const problem of result.problems) {
      const item = document.createElement("li");
      item.className = "problem problem-" + problem.severity;
      const kind = document.createElement("span");
      kind.className = "problem-kind";
      kind.textContent = problem.severity === "error" ? "خطا" : "هشدار";
      item.append(kind, " ");
      if (problem.line) {
        if (!marks[problem.line] || problem.severity === "error") marks[problem.line] = problem.severity;
        const link = document.createElement("a");
        link.href = "#line-" + problem.line;
        link.dataset.line = problem.line;
        link.textContent = "سطر " + persian(problem.line) +
          (problem.column ? "، ستون " + persian(problem.column) : "");
        item.append(link, ": ");
      }
      const message = document.createElement("span");
      message.className = "problem-message";
      isolateQuoted(message, problem.message);
      const code = document.createElement("code");
      code.className = "problem-code";
      code.dir = "ltr";
      code.textContent = problem.code;
      item.append(message, " ", code);
      list.appendChild(item);
    }
    summary.textContent = summaryText(result.errors, result.warnings);
    summary.dataset.state = result.errors ? "errors" : (result.warnings ? "warnings" : "clean");
    drawGutter();
  }

  async function check() {
    if (running) running.abort();
    running = new AbortController();
    try {
      const response = await fetch(checkUrl, {
        method: "POST", credentials: "same-origin", signal: running.signal,
        headers: {"Content-Type": "text/plain;charset=UTF-8", "X-CSRFToken": csrf ? csrf.value : ""},
        body: text.value,
      });
      if (response.status === 401) {
        summary.textContent = "نشست شما بسته شده است: متن را با «دریافت پرونده» یا رونوشت نگه دارید و دوباره وارد شوید.";
        return;
      }
      if (!response.ok) {
        summary.textContent = "بررسی هنگام نوشتن انجام نشد؛ دکمهٔ «بررسی» را بزنید.";
        return;
      }
      showProblems(await response.json());
    } catch (error) {
      if (error.name !== "AbortError") summary.textContent = "بررسی هنگام نوشتن انجام نشد؛ دکمهٔ «بررسی» را بزنید.";
    }
  }

  function goToLine(number) {
    const lines = text.value.split("\n");
    let start = 0;
    for (let i = 0; i < number - 1 && i < lines.length; i++) start += lines[i].length + 1;
    const end = start + (lines[number - 1] || "").length;
    text.focus({preventScroll: true});
    text.setSelectionRange(start, end);
    const item = document.getElementById("line-" + number);
    if (item) item.scrollIntoView({block: "center"});
  }

  text.addEventListener("input", () => {
    drawGutter();
    summary.textContent = "در حال بررسی…";
    clearTimeout(timer);
    timer = setTimeout(check, DELAY);
  });
  list.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-line]");
    if (!link) return;
    event.preventDefault();
    goToLine(Number(link.dataset.line));
  });
  for (const item of gutter.children) {
    const mark = /marked-(\w+)/.exec(item.className);
    if (mark) marks[Number(item.id.slice(5))] = mark[1];
  }
  drawGutter();
})();
