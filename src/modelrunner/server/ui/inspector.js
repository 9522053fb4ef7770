// The modelrunner inspector: plain JavaScript, same-origin relative URLs only, no dependency.
"use strict";

const KEY_STORAGE = "modelrunner.apiKey";
const MAX_KEPT = 500;
const CHART_POINTS = 40;
const REFRESH_MS = 2000;

const state = {
  records: [],            // oldest first
  selectedId: null,
  detailTab: "answer",
  models: [],
  runners: [],
  keyPromise: null,
  playgroundAbort: null,
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function toast(message) {
  const box = $("toast");
  box.textContent = message;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 1800);
}

// ---- API key: asked once when the runner refuses, kept for this tab only ----

function apiKey() { return sessionStorage.getItem(KEY_STORAGE) || ""; }

function askForKey() {
  if (!state.keyPromise) {
    state.keyPromise = new Promise((resolve) => {
      const dialog = $("key-dialog");
      $("key-input").value = "";
      dialog.addEventListener("close", () => {
        const key = $("key-input").value.trim();
        if (key) sessionStorage.setItem(KEY_STORAGE, key);
        $("key-button").hidden = false;
        state.keyPromise = null;
        resolve(Boolean(key));
      }, { once: true });
      dialog.showModal();
    });
  }
  return state.keyPromise;
}

function authHeaders(extra) {
  const headers = new Headers(extra || {});
  const key = apiKey();
  if (key) headers.set("x-api-key", key);
  return headers;
}

async function call(path, options = {}) {
  for (let attempt = 0; attempt < 3; attempt++) {
    const response = await fetch(path, { ...options, headers: authHeaders(options.headers) });
    if (response.status !== 401) return response;
    if (!(await askForKey())) return response;
  }
  return fetch(path, { ...options, headers: authHeaders(options.headers) });
}

async function getJson(path) {
  const response = await call(path);
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

// Server-Sent Events over fetch (EventSource cannot send the API key header).
async function* sseEvents(response, signal) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const raw = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let name = "message";
        const data = [];
        for (const line of raw.split("\n")) {
          if (line.startsWith("event:")) name = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (data.length) yield { name, data: data.join("\n") };
        else yield { name: "comment", data: raw };
      }
      if (signal && signal.aborted) break;
    }
  } finally {
    reader.releaseLock();
  }
}

// ---- formatting ----

function fmtBytes(bytes) {
  if (bytes === null || bytes === undefined) return "–";
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = bytes, unit = 0;
  while (Math.abs(value) >= 1000 && unit < units.length - 1) { value /= 1000; unit++; }
  return unit === 0 ? `${value} B` : `${value.toFixed(value >= 100 ? 0 : 1)} ${units[unit]}`;
}

function fmtMs(ms) {
  if (ms === null || ms === undefined) return "–";
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

function fmtDuration(seconds) {
  if (seconds < 0) return "forever";
  if (seconds < 60) return `${Math.max(0, Math.round(seconds))}s`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60 ? `${minutes}m ${Math.round(seconds % 60)}s` : `${Math.floor(minutes / 60)}h ${minutes % 60}m`;
}

function fmtTime(epochSeconds) {
  return new Date(epochSeconds * 1000).toLocaleTimeString([], { hour12: false });
}

const API_NAMES = { anthropic: "Anthropic", openai: "OpenAI", ollama: "Ollama" };

// ---- models and runners ----

async function refreshModels() {
  try {
    const [models, runners] = await Promise.all([getJson("/models"), getJson("/engines/ps")]);
    state.models = models;
    state.runners = runners;
    renderModels();
  } catch (error) {
    // the runner restarting: the next refresh tries again
  }
}

function runnerFor(model) {
  return state.runners.find((runner) => runner.model_id === model.id);
}

function renderModels() {
  const list = $("models");
  list.replaceChildren();
  $("model-count").textContent = String(state.models.length);
  for (const model of state.models) {
    const runner = runnerFor(model);
    const config = model.config || {};
    const name = (model.tags && model.tags[0]) || model.id.slice(7, 19);
    const meta = [config.parameters, config.quantization, config.size].filter(Boolean).join(" · ");
    const item = el("li", { class: `model${runner ? " loaded" : ""}` },
      el("div", { class: "model-name" }, name,
        runner ? el("span", { class: `pill ${runner.in_use ? "busy" : "loaded"}`, text: runner.loading ? "loading" : runner.in_use ? "in use" : "loaded" }) : null),
      meta ? el("div", { class: "model-meta", text: meta }) : null);
    if (runner) item.append(runnerDetails(runner));
    list.append(item);
  }
  syncModelPickers();
}

function runnerDetails(runner) {
  const slots = el("span", { class: "slots", title: `${runner.active_requests} of ${runner.parallel_slots} slots in use` });
  for (let i = 0; i < runner.parallel_slots; i++) slots.append(el("span", { class: `slot${i < runner.active_requests ? " used" : ""}` }));
  let keepAlive = "forever";
  if (runner.keep_alive >= 0) {
    keepAlive = runner.in_use ? `${fmtDuration(runner.keep_alive)} after use`
      : `${fmtDuration(runner.last_used + runner.keep_alive - Date.now() / 1000)} left`;
  }
  return el("dl", { class: "runner" },
    el("dt", { text: "memory" }), el("dd", { text: fmtBytes(runner.memory && runner.memory.total) }),
    el("dt", { text: "slots" }), el("dd", {}, slots, ` ${runner.active_requests}/${runner.parallel_slots}`,
      runner.queued_requests ? ` · ${runner.queued_requests} queued` : ""),
    el("dt", { text: "keep-alive" }), el("dd", { text: keepAlive }),
    el("dt", { text: "context" }), el("dd", { text: `${runner.context_size} tokens` }));
}

function modelNames() {
  const names = new Set();
  for (const model of state.models) for (const tag of model.tags || []) names.add(tag);
  return [...names];
}

function syncModelPickers() {
  const picker = $("pg-model");
  const chosen = picker.value;
  const names = modelNames();
  if ([...picker.options].map((o) => o.value).join("\n") !== names.join("\n")) {
    picker.replaceChildren(...names.map((name) => el("option", { value: name, text: name })));
    if (names.includes(chosen)) picker.value = chosen;
  }
  const filter = $("filter-model");
  const seen = new Set([...filter.options].map((o) => o.value));
  for (const record of state.records) {
    for (const name of [record.model]) {
      if (name && !seen.has(name)) { filter.append(el("option", { value: name, text: name })); seen.add(name); }
    }
  }
}

// ---- recorded requests ----

function addRecords(records, fresh) {
  const known = new Set(state.records.map((r) => r.id));
  for (const record of records) {
    if (known.has(record.id)) continue;
    record._fresh = fresh;
    state.records.push(record);
  }
  state.records.sort((a, b) => a.started_at - b.started_at);
  if (state.records.length > MAX_KEPT) state.records.splice(0, state.records.length - MAX_KEPT);
  syncModelPickers();
  renderRequests();
}

function visibleRecords() {
  const model = $("filter-model").value, api = $("filter-api").value;
  return state.records.filter((r) => (!model || r.model === model || r.served_model === model) && (!api || r.api === api));
}

function renderRequests() {
  const records = visibleRecords();
  const rows = $("request-rows");
  rows.replaceChildren(...records.slice().reverse().map(requestRow));
  $("empty-requests").hidden = records.length > 0;
  $("request-count").textContent = records.length ? `${records.length} request${records.length > 1 ? "s" : ""}` : "";
  renderCharts(records);
  if (!state.selectedId && records.length) selectRecord(records[records.length - 1].id);
}

function requestRow(record) {
  const usage = record.usage || {};
  const timings = record.timings || {};
  const ok = record.status && record.status < 400 && !record.error;
  const row = el("tr", { class: `${record.id === state.selectedId ? "selected" : ""}${record._fresh ? " fresh" : ""}`, "data-id": record.id,
                        onclick: () => selectRecord(record.id) },
    el("td", { text: fmtTime(record.started_at) }),
    el("td", {}, el("span", { class: `api ${record.api}`, text: API_NAMES[record.api] || record.api }), record.stream ? " ⇣" : ""),
    el("td", { class: "model-cell", title: record.served_model || "", text: record.model || "–" }),
    el("td", {}, el("span", { class: `status ${ok ? "ok" : "bad"}`, text: record.status || "—" })),
    el("td", { class: "num", text: record.usage ? `${usage.input_tokens} → ${usage.output_tokens}` : "–" }),
    el("td", { class: "num", text: fmtMs(timings.ttft_ms) }),
    el("td", { class: "num", text: timings.tokens_per_s ? timings.tokens_per_s.toFixed(1) : "–" }));
  record._fresh = false;
  return row;
}

function selectRecord(id) {
  state.selectedId = id;
  for (const row of $("request-rows").children) row.classList.toggle("selected", row.dataset.id === id);
  renderDetail();
}

function renderDetail() {
  const record = state.records.find((r) => r.id === state.selectedId);
  const box = $("detail");
  if (!record) { box.replaceChildren(el("p", { class: "empty", text: "Pick a request to see it." })); return; }
  const usage = record.usage || {};
  const timings = record.timings || {};
  const served = record.served_model && record.served_model !== record.model ? ` → served by ${record.served_model}` : "";
  const ok = record.status && record.status < 400 && !record.error;
  const tabs = [["answer", "Answer"], ["prompt", "Rendered prompt"], ["request", "API request"],
                ["engine", "Engine request"], ["raw", record.stream ? "Raw events" : "Raw response"]];
  const subtabs = el("div", { class: "subtabs" }, tabs.map(([key, label]) =>
    el("button", { class: `subtab${state.detailTab === key ? " active" : ""}`, "data-tab": key, text: label,
                   onclick: () => { state.detailTab = key; renderDetail(); } })));
  box.replaceChildren(...[
    el("div", { class: "detail-head" },
      el("span", { class: `api ${record.api}`, text: API_NAMES[record.api] || record.api }),
      el("span", { class: "route", text: `${record.method} ${record.route}` }),
      el("span", { class: `status ${ok ? "ok" : "bad"}`, text: record.status || "no answer" })),
    el("div", { class: "detail-sub", text: `${record.model || "no model"}${served} · ${new Date(record.started_at * 1000).toLocaleString()} · ${record.stream ? "streamed" : "whole answer"} · ${record.id}` }),
    record.error ? el("div", { class: "error", text: record.error }) : null,
    el("div", { class: "stats" },
      stat("input tokens", usage.input_tokens ?? "–"), stat("output tokens", usage.output_tokens ?? "–"),
      stat("cached", usage.cached_input_tokens ?? "–"), stat("first token", fmtMs(timings.ttft_ms)),
      stat("tokens / s", timings.tokens_per_s ? timings.tokens_per_s.toFixed(1) : "–"), stat("total", fmtMs(timings.duration_ms))),
    subtabs,
    detailBody(record)].filter(Boolean));
}

function stat(label, value) { return el("div", { class: "stat" }, el("b", { text: value }), el("span", { text: label })); }

function pretty(value) {
  if (value === null || value === undefined) return "—";
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

function detailBody(record) {
  const response = record.response || {};
  switch (state.detailTab) {
    case "prompt":
      if (record.rendered_prompt === null && record.prompt_on_read) {
        readPrompt(record);
        return el("p", { class: "empty", text: "Rendering the prompt…" });
      }
      if (record.rendered_prompt === null) return el("p", { class: "empty", text: record.prompt_error || "No prompt: this request did not reach the model." });
      return renderedPrompt(record.rendered_prompt);
    case "request": return el("pre", { text: pretty(record.request) });
    case "engine": return el("pre", { text: pretty(record.engine_request) });
    case "raw": return el("pre", { text: record.stream ? (response.events || []).join("\n\n") : pretty(response.body) });
    default: {
      const message = response.message;
      if (!message || !message.content.length) return el("p", { class: "empty", text: "No answer was generated." });
      return el("div", { class: "blocks" }, message.content.map(answerBlock),
        el("div", { class: "muted", text: `stop reason: ${message.stop_reason || "–"}${response.truncated ? " · truncated by the recorder" : ""}` }));
    }
  }
}

// The server renders a chat's prompt only when its record is read by id (rendering costs the model's
// runner a call, so it is not done for every request); the answer replaces the listed record's fields.
async function readPrompt(record) {
  if (record._reading) return;
  record._reading = true;
  try {
    const whole = await getJson(`/engines/requests/${encodeURIComponent(record.id)}`);
    Object.assign(record, { rendered_prompt: whole.rendered_prompt, prompt_error: whole.prompt_error, prompt_on_read: false });
  } catch (error) {
    Object.assign(record, { prompt_error: `The prompt could not be read: ${error.message}`, prompt_on_read: false });
  } finally {
    record._reading = false;
  }
  if (state.selectedId === record.id && state.detailTab === "prompt") renderDetail();
}

// Special tokens (<|im_start|>, <s>, [INST]...) stand out in the prompt the model saw.
function renderedPrompt(text) {
  const pre = el("pre", { class: "prompt" });
  const pattern = /(<\|[^|>\s]{1,40}\|>|<\/?s>|\[\/?INST\]|<\/?(?:start_of_turn|end_of_turn|think)>)/g;
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    pre.append(text.slice(last, match.index), el("span", { class: "special", text: match[0] }));
    last = match.index + match[0].length;
  }
  pre.append(text.slice(last));
  return pre;
}

function answerBlock(block) {
  if (block.type === "thinking") return el("div", { class: "block thinking" }, el("header", { text: "thinking" }), el("div", { text: block.thinking }));
  if (block.type === "tool_use") {
    return el("div", { class: "block tool_use" }, el("header", {}, "tool use", el("span", { text: block.name })),
      el("div", { text: typeof block.input === "string" ? block.input : JSON.stringify(block.input, null, 2) }));
  }
  return el("div", { class: "block text" }, el("header", { text: "text" }), el("div", { text: block.text }));
}

// ---- chart: hand-written SVG bars over the most recent requests ----

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function renderCharts(records) {
  const recent = records.filter((r) => r.timings && r.timings.ttft_ms !== null).slice(-CHART_POINTS);
  drawBars($("chart-ttft"), recent, (r) => r.timings.ttft_ms, fmtMs, "#7dd3fc", "time to first token");
  drawBars($("chart-tps"), recent, (r) => r.timings.tokens_per_s, (v) => v.toFixed(v >= 10 ? 0 : 1), "#a78bfa", "tokens per second");
}

function drawBars(chart, records, valueOf, format, colour, label) {
  const width = chart.clientWidth || 400, height = 120, left = 58, bottom = 16, top = 8;
  chart.setAttribute("viewBox", `0 0 ${width} ${height}`);
  chart.replaceChildren();
  const values = records.map((r) => valueOf(r) || 0);
  const max = Math.max(...values, 0);
  if (!records.length || max === 0) {
    chart.append(svg("text", { x: left, y: height / 2, "font-size": 11 }, `no ${label} yet`));
    return;
  }
  const plotHeight = height - top - bottom;
  for (const fraction of [0, 0.5, 1]) {
    const y = top + plotHeight * (1 - fraction);
    chart.append(svg("line", { x1: left, x2: width, y1: y, y2: y, stroke: "#263041", "stroke-width": 1 }));
    chart.append(svg("text", { x: left - 6, y: y + 3, "text-anchor": "end" }, format(max * fraction)));
  }
  const slot = (width - left) / CHART_POINTS;
  records.forEach((record, i) => {
    const value = values[i];
    const barHeight = Math.max(1, (value / max) * plotHeight);
    const bar = svg("rect", { x: left + i * slot + slot * 0.15, y: top + plotHeight - barHeight, width: Math.max(2, slot * 0.7),
                              height: barHeight, rx: 2, fill: colour, opacity: record.id === state.selectedId ? 1 : 0.75 });
    bar.append(svg("title", {}, `${record.model} · ${API_NAMES[record.api] || record.api} · ${format(value)}`));
    bar.addEventListener("click", () => selectRecord(record.id));
    chart.append(bar);
  });
  chart.append(svg("text", { x: width, y: height - 3, "text-anchor": "end" }, "newest →"));
}

// ---- the live feed: a list first, then every new record as it completes ----

async function followRequests() {
  const live = $("live");
  while (true) {
    try {
      const listing = await getJson("/engines/requests?limit=200");
      addRecords(listing.requests || [], false);
      if (listing.recording === false) { live.textContent = "recording off"; return; }
      const response = await call("/engines/requests", { headers: { accept: "text/event-stream" } });
      if (!response.ok) throw new Error(`feed: HTTP ${response.status}`);
      for await (const event of sseEvents(response)) {
        if (event.name === "comment") { live.className = "live on"; live.textContent = "live"; continue; }
        if (event.name === "request") addRecords([JSON.parse(event.data)], true);
      }
    } catch (error) {
      // the runner restarting or gone: show it, and try again shortly
    }
    live.className = "live off";
    live.textContent = "reconnecting";
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

// ---- playground ----

function addMessageRow(role, content) {
  const text = el("textarea", { rows: 2, placeholder: role === "user" ? "Say something to the model…" : "An earlier answer, or a prefill" });
  text.value = content || "";
  const roleSelect = el("select", {}, el("option", { value: "user", text: "user" }), el("option", { value: "assistant", text: "assistant" }));
  roleSelect.value = role;
  const row = el("div", { class: "message" }, roleSelect, text,
    el("button", { type: "button", class: "icon", title: "Remove", text: "×", onclick: () => row.remove() }));
  $("pg-messages").append(row);
  return text;
}

function playgroundRequest() {
  const request = { model: $("pg-model").value, max_tokens: Number($("pg-max-tokens").value) || 256 };
  const system = $("pg-system").value.trim();
  if (system) request.system = system;
  const temperature = $("pg-temperature").value;
  if (temperature !== "") request.temperature = Number(temperature);
  request.messages = [...$("pg-messages").children].map((row) => ({
    role: row.querySelector("select").value, content: row.querySelector("textarea").value,
  })).filter((m) => m.content.trim());
  const toolsText = $("pg-tools").value.trim();
  if (toolsText) {
    let tools;
    try { tools = JSON.parse(toolsText); } catch (error) { throw new Error(`Tools are not valid JSON: ${error.message}`); }
    if (!Array.isArray(tools)) throw new Error("Tools must be a JSON array of tool definitions.");
    request.tools = tools;
    request.tool_choice = { type: $("pg-tool-choice").value };
  }
  return request;
}

function showPlaygroundError(message) {
  const box = $("pg-error");
  box.textContent = message || "";
  box.hidden = !message;
}

async function sendPlayground(event) {
  event.preventDefault();
  showPlaygroundError("");
  let request;
  try { request = playgroundRequest(); } catch (error) { showPlaygroundError(error.message); return; }
  if (!request.messages.length) { showPlaygroundError("Write at least one message."); return; }
  const answer = $("pg-answer");
  answer.replaceChildren();
  $("pg-code").hidden = true;
  const abort = new AbortController();
  state.playgroundAbort = abort;
  $("pg-send").disabled = true;
  $("pg-stop").disabled = false;
  const started = performance.now();
  let firstAt = null, usage = {}, stopReason = null;
  const blocks = new Map();
  try {
    const response = await call("/v1/messages", {
      method: "POST", signal: abort.signal,
      headers: { "content-type": "application/json", "anthropic-version": "2023-06-01" },
      body: JSON.stringify({ ...request, stream: true }),
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error((body.error && body.error.message) || `HTTP ${response.status}`);
    }
    for await (const sse of sseEvents(response, abort.signal)) {
      if (sse.name === "comment" || sse.name === "ping") continue;
      const data = JSON.parse(sse.data);
      if (data.type === "message_start") usage = { ...data.message.usage };
      else if (data.type === "content_block_start") {
        const block = data.content_block;
        const view = streamingBlock(block);
        blocks.set(data.index, view);
        answer.append(view.node);
      } else if (data.type === "content_block_delta") {
        if (firstAt === null) firstAt = performance.now();
        const view = blocks.get(data.index);
        const delta = data.delta;
        if (view && delta.type === "text_delta") view.append(delta.text);
        else if (view && delta.type === "thinking_delta") view.append(delta.thinking);
        else if (view && delta.type === "input_json_delta") view.append(delta.partial_json);
      } else if (data.type === "content_block_stop") {
        const view = blocks.get(data.index);
        if (view) view.done();
      } else if (data.type === "message_delta") {
        usage = { ...usage, ...data.usage };
        stopReason = data.delta.stop_reason;
      } else if (data.type === "error") {
        throw new Error(data.error.message);
      }
      $("pg-stats").textContent = playgroundStats(started, firstAt, usage, stopReason);
    }
  } catch (error) {
    if (error.name !== "AbortError") showPlaygroundError(error.message);
  } finally {
    for (const view of blocks.values()) view.done();
    $("pg-send").disabled = false;
    $("pg-stop").disabled = true;
    state.playgroundAbort = null;
    $("pg-stats").textContent = playgroundStats(started, firstAt, usage, stopReason);
  }
}

function playgroundStats(started, firstAt, usage, stopReason) {
  const parts = [];
  if (firstAt !== null) parts.push(`first token ${fmtMs(firstAt - started)}`);
  if (usage.input_tokens !== undefined) parts.push(`${usage.input_tokens} → ${usage.output_tokens ?? 0} tokens`);
  if (stopReason) parts.push(stopReason);
  return parts.join(" · ");
}

function streamingBlock(block) {
  const kind = block.type === "thinking" || block.type === "tool_use" ? block.type : "text";
  const body = el("div", {});
  const header = el("header", {}, kind === "tool_use" ? "tool use" : kind, kind === "tool_use" ? el("span", { text: block.name }) : null);
  const node = el("div", { class: `block ${kind} streaming` }, header, body);
  let text = kind === "text" ? block.text || "" : "";
  body.textContent = text;
  return {
    node,
    append(piece) { text += piece; body.textContent = text; },
    done() {
      node.classList.remove("streaming");
      if (kind === "tool_use" && text) {
        try { body.textContent = JSON.stringify(JSON.parse(text), null, 2); } catch (error) { /* shown as written */ }
      }
    },
  };
}

// ---- copy the playground's request as code ----

function pythonLiteral(value, indent) {
  const pad = "    ".repeat(indent + 1), end = "    ".repeat(indent);
  if (value === null) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number") return String(value);
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) {
    if (!value.length) return "[]";
    return `[\n${value.map((item) => pad + pythonLiteral(item, indent + 1)).join(",\n")},\n${end}]`;
  }
  const entries = Object.entries(value);
  if (!entries.length) return "{}";
  return `{\n${entries.map(([k, v]) => `${pad}${JSON.stringify(k)}: ${pythonLiteral(v, indent + 1)}`).join(",\n")},\n${end}}`;
}

function asPython(request) {
  const args = Object.entries(request).map(([name, value]) => `    ${name}=${pythonLiteral(value, 1)},`).join("\n");
  const key = apiKey() ? 'os.environ["MODEL_RUNNER_API_KEY"]' : '"unused"';
  return `import os\n\nimport anthropic\n\nclient = anthropic.Anthropic(base_url="${location.origin}", api_key=${key})\n\n` +
    `with client.messages.stream(\n${args}\n) as stream:\n    for text in stream.text_stream:\n        print(text, end="", flush=True)\n` +
    `    print()\n    print(stream.get_final_message().usage)\n`;
}

function asCurl(request) {
  const body = JSON.stringify({ ...request, stream: true }, null, 2).replace(/'/g, "'\\''");
  const key = apiKey() ? ` \\\n  -H "x-api-key: $MODEL_RUNNER_API_KEY"` : "";
  return `curl -N ${location.origin}/v1/messages \\\n  -H 'content-type: application/json' \\\n  -H 'anthropic-version: 2023-06-01'${key} \\\n  -d '${body}'\n`;
}

async function copyCode(render) {
  showPlaygroundError("");
  let code;
  try { code = render(playgroundRequest()); } catch (error) { showPlaygroundError(error.message); return; }
  const box = $("pg-code");
  box.textContent = code;
  box.hidden = false;
  try {
    await navigator.clipboard.writeText(code);
    toast("Copied to the clipboard");
  } catch (error) {
    toast("Select the code below to copy it");
  }
}

// ---- wiring ----

function showView(name) {
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.view === name);
  $("view-requests").hidden = name !== "requests";
  $("view-playground").hidden = name !== "playground";
  if (name === "requests") renderCharts(visibleRecords());
}

async function ensureKey() {
  try {
    const runner = await (await fetch("/ui/runner.json")).json();
    if (runner.api_key_required && !apiKey()) await askForKey();
  } catch (error) {
    // an older runner: the first refused call asks instead
  }
}

async function start() {
  for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => showView(tab.dataset.view));
  $("filter-model").addEventListener("change", () => { state.selectedId = null; renderRequests(); });
  $("filter-api").addEventListener("change", () => { state.selectedId = null; renderRequests(); });
  $("playground").addEventListener("submit", sendPlayground);
  $("pg-stop").addEventListener("click", () => state.playgroundAbort && state.playgroundAbort.abort());
  $("pg-add-user").addEventListener("click", () => addMessageRow("user").focus());
  $("pg-add-assistant").addEventListener("click", () => addMessageRow("assistant").focus());
  $("pg-copy-python").addEventListener("click", () => copyCode(asPython));
  $("pg-copy-curl").addEventListener("click", () => copyCode(asCurl));
  $("key-button").hidden = !apiKey();
  $("key-button").addEventListener("click", () => askForKey());
  addMessageRow("user", "Write a haiku about a small language model.");
  window.addEventListener("resize", () => renderCharts(visibleRecords()));
  await ensureKey();
  refreshModels();
  setInterval(refreshModels, REFRESH_MS);
  setInterval(() => renderModels(), 1000);  // keep-alive countdowns
  followRequests();
}

document.addEventListener("DOMContentLoaded", start);
