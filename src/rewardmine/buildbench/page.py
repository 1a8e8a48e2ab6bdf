"""The self-contained HTML page on which people verify consensus lists.

The page holds its data and code inline (no external assets, no network). For each list it shows
the principle, the prompt and the responses in consensus order; the annotator accepts or rejects
the list and may correct the order with the arrow buttons. "Save" downloads a JSON file (a Blob
link) that ``rewardmine.buildbench.verify.import_annotations`` reads; "Load" reopens such a file to
go on where one stopped.
"""

from __future__ import annotations

import html
import json
from typing import Any

ANNOTATION_FORMAT = "rewardmine-annotations"
ANNOTATION_VERSION = 1

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline';
 script-src 'unsafe-inline'; img-src data:">
<title>__TITLE__</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 1rem auto; padding: 0 1rem; }
header { position: sticky; top: 0; background: #fff; padding: .5rem 0; border-bottom: 1px solid #ccc; }
.list { border: 1px solid #bbb; border-radius: 6px; margin: 1rem 0; padding: .75rem; }
.list.accept { border-color: #2a7; } .list.reject { border-color: #c33; opacity: .8; }
.principle { background: #f4f4ff; padding: .5rem; white-space: pre-wrap; }
.prompt { background: #f7f7f7; padding: .5rem; white-space: pre-wrap; }
ol.responses li { margin: .4rem 0; }
.response { white-space: pre-wrap; border-left: 3px solid #ddd; padding-left: .5rem; }
.meta { color: #555; font-size: .85rem; } .changed { color: #b60; font-weight: bold; }
button.move { width: 2rem; }
</style></head><body>
<header>
<strong>__TITLE__</strong> &middot; <span id="progress"></span><br>
<label>Annotator <input id="annotator" placeholder="your name" required></label>
<button id="save">Save</button>
<label>Load a saved file <input id="load" type="file" accept=".json,application/json"></label>
<a id="download" hidden></a> <span id="message" role="status"></span>
</header>
<p>For each list: is this order (best first) right under the principle? Accept it, reject it,
or fix the order with the arrows and accept. Save often; the file is all that is kept.</p>
<main id="lists"></main>
<script id="data" type="application/json">__DATA__</script>
<script>
"use strict";
const DATA = JSON.parse(document.getElementById("data").textContent);
const state = {};  // list id -> {decision, ranking, note}
for (const item of DATA.lists) {
  state[item.id] = {decision: null, ranking: item.ranking.slice(), note: ""};
}

function text(tag, content, cls) {
  const node = document.createElement(tag);
  node.textContent = content;
  if (cls) node.className = cls;
  return node;
}
function promptText(prompt) {
  if (typeof prompt === "string") return prompt;
  return prompt.map(m => m.role + ": " + m.content).join("\\n\\n");
}
function same(a, b) { return a.length === b.length && a.every((x, i) => x === b[i]); }
function render() {
  const root = document.getElementById("lists");
  root.replaceChildren();
  let done = 0;
  for (const item of DATA.lists) {
    const s = state[item.id];
    if (s.decision) done += 1;
    const box = document.createElement("section");
    box.className = "list" + (s.decision ? " " + s.decision : "");
    box.dataset.id = item.id;
    box.append(text("h3", item.id));
    box.append(text("div", [item.dimension, item.domain].filter(Boolean).join(" / "), "meta"));
    box.append(text("div", "Principle: " + item.principle, "principle"));
    box.append(text("div", promptText(item.prompt), "prompt"));
    const list = document.createElement("ol");
    list.className = "responses";
    s.ranking.forEach((rid, position) => {
      const li = document.createElement("li");
      li.dataset.response = rid;
      const up = text("button", "\\u2191", "move up"); up.title = "move up";
      const down = text("button", "\\u2193", "move down"); down.title = "move down";
      up.disabled = position === 0; down.disabled = position === s.ranking.length - 1;
      up.onclick = () => { move(item.id, position, position - 1); };
      down.onclick = () => { move(item.id, position, position + 1); };
      li.append(up, down, text("span", " [" + rid + "] ", "meta"));
      li.append(text("div", item.responses[rid], "response"));
      list.append(li);
    });
    box.append(list);
    if (!same(s.ranking, item.ranking)) {
      box.append(text("div", "Order corrected", "changed"));
      const reset = text("button", "Reset order", "reset");
      reset.onclick = () => { s.ranking = item.ranking.slice(); render(); };
      box.append(reset);
    }
    for (const choice of ["accept", "reject"]) {
      const label = document.createElement("label");
      const radio = document.createElement("input");
      radio.type = "radio"; radio.name = "decision-" + item.id; radio.value = choice;
      radio.checked = s.decision === choice;
      radio.onchange = () => { s.decision = choice; render(); };
      label.append(radio, " " + choice + " ");
      box.append(label);
    }
    const note = document.createElement("input");
    note.className = "note"; note.placeholder = "note (optional)"; note.value = s.note;
    note.onchange = () => { s.note = note.value; };
    box.append(note);
    root.append(box);
  }
  document.getElementById("progress").textContent = done + " of " + DATA.lists.length + " decided";
}
function move(id, from, to) {
  const r = state[id].ranking;
  r.splice(to, 0, r.splice(from, 1)[0]);
  render();
}
function say(message) { document.getElementById("message").textContent = message; }
function payload() {
  const decisions = {};
  for (const item of DATA.lists) {
    const s = state[item.id];
    if (!s.decision) continue;
    decisions[item.id] = {decision: s.decision, note: s.note,
                          ranking: same(s.ranking, item.ranking) ? null : s.ranking.slice()};
  }
  return {format: DATA.format, version: DATA.version, export: DATA.export,
          annotator: document.getElementById("annotator").value.trim(),
          saved_at: new Date().toISOString(), decisions: decisions};
}
document.getElementById("save").onclick = () => {
  const body = payload();
  if (!body.annotator) { say("Enter your name before saving."); return; }
  const blob = new Blob([JSON.stringify(body, null, 1)], {type: "application/json"});
  const link = document.getElementById("download");
  link.href = URL.createObjectURL(blob);
  link.download = "annotations-" + body.annotator.replace(/[^A-Za-z0-9_-]+/g, "_") + ".json";
  link.click();
  say("Saved " + Object.keys(body.decisions).length + " decisions to " + link.download);
};
document.getElementById("load").onchange = async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  const saved = JSON.parse(await file.text());
  if (saved.format !== DATA.format || saved.export !== DATA.export) {
    say("That file belongs to another export; not loaded."); return;
  }
  document.getElementById("annotator").value = saved.annotator || "";
  for (const [id, d] of Object.entries(saved.decisions)) {
    if (!(id in state)) continue;
    state[id] = {decision: d.decision, note: d.note || "",
                 ranking: (d.ranking || DATA.lists.find(x => x.id === id).ranking).slice()};
  }
  render();
  say("Loaded " + Object.keys(saved.decisions).length + " decisions");
};
render();
</script></body></html>
"""


def render_page(lists: list[dict[str, Any]], *, export_id: str, title: str) -> str:
    """The verification page for ``lists`` (each: id, principle, dimension, domain, prompt,
    responses {id: text}, ranking [ids best first])."""
    data = {"format": ANNOTATION_FORMAT, "version": ANNOTATION_VERSION, "export": export_id,
            "lists": lists}
    # Inside <script>, "</script" or "<!--" in a response would end or alter the element;
    # JSON's \\u003c escape is the same string without a literal "<".
    blob = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")
    return _TEMPLATE.replace("__TITLE__", html.escape(title)).replace("__DATA__", blob)
