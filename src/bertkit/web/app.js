// bertkit's page: plain JS, no build step, no outside resources.
// Offsets from the API are Python string indices (code points); JS strings count UTF-16 units, so texts
// are cut as arrays of code points (Array.from) and emoji or rare Hangul never shift a highlight.
"use strict";

const $ = (id) => document.getElementById(id);
let health = null;

async function api(path, body, asImage = false) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return asImage ? response.blob() : response.json();
}

function showError(id, error) {
  const box = $(id);
  box.hidden = !error;
  box.textContent = error ? String(error.message || error) : "";
}

async function showFigure(containerId, path, body, alt) {
  const box = $(containerId);
  box.replaceChildren();
  const blob = await api(path, body, true);
  const img = document.createElement("img");
  img.alt = alt;
  img.src = URL.createObjectURL(blob);
  box.append(img);
}

function busy(form, on) {
  for (const button of form.querySelectorAll("button")) button.disabled = on;
  $("status").textContent = on ? "working…" : "";
}

function handle(formId, errorId, run) {
  const form = $(formId);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(errorId, null);
    busy(form, true);
    try {
      await run();
      await refreshNotes();  // a model loaded for this task may come with a caveat (an untrained head)
    } catch (error) { showError(errorId, error); } finally { busy(form, false); }
  });
}

// Spans [{start, end, rank, label}] over text → nodes; where spans overlap the best rank wins.
function highlighted(text, spans, makeMark) {
  const chars = Array.from(text);
  const owner = new Array(chars.length).fill(null);
  const ordered = [...spans].sort((a, b) => b.rank - a.rank);  // best last: it overwrites
  for (const span of ordered) {
    for (let i = span.start; i < Math.min(span.end, chars.length); i++) owner[i] = span;
  }
  const nodes = [];
  let i = 0;
  while (i < chars.length) {
    let j = i;
    while (j < chars.length && owner[j] === owner[i]) j++;
    const piece = chars.slice(i, j).join("");
    nodes.push(owner[i] ? makeMark(owner[i], piece) : document.createTextNode(piece));
    i = j;
  }
  return nodes;
}

// --- QA ---

handle("qa-form", "qa-error", async () => {
  const context = $("qa-context-input").value;
  const question = $("qa-question").value;
  const topK = Number($("qa-topk").value);
  const result = await api("/v1/qa", { question, context, top_k: topK });
  const list = $("qa-answers");
  list.replaceChildren();
  result.answers.forEach((a, n) => {
    const item = document.createElement("li");
    item.className = "answer";
    item.dataset.rank = String(n + 1);
    const text = document.createElement("span");
    text.className = "answer-text";
    text.textContent = a.answer || "(no answer)";
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = `${a.score.toFixed(4)}  [${a.start}:${a.end}]`;
    item.append(text, score);
    list.append(item);
  });
  $("qa-model").textContent = `answered by ${result.model}`;
  const spans = result.answers.filter((a) => a.end > a.start).map((a, n) => ({ ...a, rank: n + 1 }));
  $("qa-context").replaceChildren(...highlighted(context, spans, (span, piece) => {
    const mark = document.createElement("mark");
    mark.dataset.rank = String(span.rank);
    mark.title = `answer ${span.rank}: score ${span.score.toFixed(4)}`;
    mark.textContent = piece;
    return mark;
  }));
  $("qa-figure").replaceChildren();
  if ($("qa-pictures").checked) {
    const limit = health ? health.limits.max_plot_chars : 5000;
    if (Array.from(context).length > limit) {
      $("qa-figure").textContent = `(no picture: the context is longer than ${limit} characters)`;
    } else {
      await showFigure("qa-figure", "/v1/plot/qa?format=svg&kind=both", { question, context },
        "tokens by segment with the answer outlined, and start/end probabilities");
    }
  }
});

// --- tokenization ---

handle("tok-form", "tok-error", async () => {
  const text = $("tok-text").value;
  const pairText = $("tok-pair").value;
  const body = pairText.trim() ? { text, pair: pairText } : { text };
  const result = await api("/v1/tokenize", body);
  const table = document.createElement("table");
  const head = table.insertRow();
  for (const name of ["#", "token", "id", "type", "offsets", "seq", "word"]) {
    const th = document.createElement("th");
    th.textContent = name;
    head.append(th);
  }
  result.windows.forEach((w) => {
    w.tokens.forEach((token, i) => {
      const row = table.insertRow();
      const cells = [i, token, w.input_ids[i], w.token_type_ids ? w.token_type_ids[i] : "-",
        w.offset_mapping[i].join("-"), w.sequence_ids[i] ?? "-", w.word_ids[i] ?? "-"];
      cells.forEach((value, c) => {
        const cell = row.insertCell();
        cell.textContent = String(value);
        if (c === 1) cell.className = "tok";
      });
    });
  });
  $("tok-table").replaceChildren(table);
  await showFigure("tok-figure", "/v1/plot/tokenize?format=svg", body, "tokens coloured by sequence");
});

// --- fill-mask ---

handle("fill-form", "fill-error", async () => {
  const result = await api("/v1/fill-mask", { text: $("fill-text").value, top_k: 5 });
  const box = $("fill-result");
  box.replaceChildren();
  result.masks.forEach((fills, m) => {
    const title = document.createElement("h3");
    title.textContent = result.masks.length > 1 ? `mask ${m + 1}` : "candidates";
    const list = document.createElement("ol");
    for (const f of fills) {
      const item = document.createElement("li");
      item.textContent = `${f.token_str}  ${f.score.toFixed(4)}`;
      const bar = document.createElement("span");
      bar.className = "bar";
      bar.style.width = `${Math.round(f.score * 200)}px`;
      item.append(bar);
      list.append(item);
    }
    box.append(title, list);
  });
});

// --- next sentence ---

handle("nsp-form", "nsp-error", async () => {
  const candidates = $("nsp-second").value.split("\n").map((s) => s.trim()).filter(Boolean);
  const result = await api("/v1/nsp", { first: $("nsp-first").value, candidates });
  const list = document.createElement("ol");
  for (const c of result.ranked) {
    const item = document.createElement("li");
    item.textContent = `${c.text}  P(is next) = ${c.is_next.toFixed(4)}`;
    list.append(item);
  }
  $("nsp-result").replaceChildren(list);
});

// --- entities ---

handle("ner-form", "ner-error", async () => {
  const text = $("ner-text").value;
  const result = await api("/v1/ner", { text });
  const spans = result.entities.map((e) => ({ ...e, rank: 1 - e.score, label: e.entity_group || e.entity }));
  $("ner-result").replaceChildren(...highlighted(text, spans, (span, piece) => {
    const mark = document.createElement("mark");
    mark.className = "entity";
    mark.textContent = piece;
    const label = document.createElement("small");
    label.textContent = `${span.label} ${span.score.toFixed(2)}`;
    mark.append(label);
    return mark;
  }));
  await showFigure("ner-figure", "/v1/plot/ner?format=svg", { text }, "entities highlighted in the text");
});

// --- attention ---

handle("att-form", "att-error", async () => {
  const text = $("att-text").value;
  const word = $("att-word").value.trim();
  const layer = Number($("att-layer").value);
  const head = Number($("att-head").value);
  await showFigure("att-figure", "/v1/plot/attention?format=png", { text, layer, head },
    "attention maps: all layers and heads, one large");
  $("att-word-figure").replaceChildren();
  if (word) {
    await showFigure("att-word-figure", "/v1/plot/attends-to?format=svg", { text, word, layer, head },
      `what ${word} attends to`);
  }
});

// --- tabs and start ---

function selectTab(name) {
  for (const button of document.querySelectorAll("nav button")) {
    button.setAttribute("aria-selected", String(button.dataset.tab === name));
  }
  let available = true;
  for (const panel of document.querySelectorAll("section[role=tabpanel]")) {
    const shown = panel.dataset.task === name;
    panel.hidden = !shown;
    if (shown && health && !health.tasks[name]) available = false;
  }
  if (!available) $(`tab-${name}`).hidden = true;
  $("unavailable").hidden = available;
}

for (const button of document.querySelectorAll("nav button")) {
  button.addEventListener("click", () => selectTab(button.dataset.tab));
}

// An example fills the question and context and asks it.
for (const button of document.querySelectorAll("button.qa-example")) {
  button.addEventListener("click", () => {
    $("qa-question").value = button.dataset.question;
    $("qa-context-input").value = button.dataset.context;
    $("qa-form").requestSubmit();
  });
}

function showNotes() {
  const notes = Object.entries(health.notes || {}).map(([task, list]) => `${task}: ${list.join(" ")}`);
  $("notes").hidden = !notes.length;
  $("notes").textContent = notes.join("\n");
}

async function refreshNotes() {
  try {
    health = await (await fetch("/health")).json();
    showNotes();
  } catch (error) { /* the notes are a nicety */ }
}

async function start() {
  try {
    const response = await fetch("/health");
    health = await response.json();
    $("model").textContent = `model: ${health.model}`;
    for (const button of document.querySelectorAll("nav button")) {
      if (!health.tasks[button.dataset.tab]) {
        button.classList.add("off");
        button.title = "not available on this server";
      }
    }
    showNotes();
    document.body.dataset.ready = "true";
  } catch (error) {
    $("status").textContent = `cannot reach the server: ${error.message}`;
  }
}

start();
