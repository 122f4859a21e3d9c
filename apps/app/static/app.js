// rae app page: plain JavaScript, no build step, nothing from the network but this server.
// Text from the server (class names, metadata, errors) is always set with textContent, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  config: null, preset: null, classes: [], chosen: [], current: null, jobs: new Map(),
  gallery: { items: [], total: 0, offset: 0, selected: null }, previews: 0, downloads: new Map(),
};

// ------------------------------------------------------------------------------------------ helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

async function api(path, { method = "GET", body } = {}) {
  const opts = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
  const res = await fetch(path, opts);
  let data = null;
  try { data = await res.json(); } catch { data = null; }
  if (res.status === 401) { showLocked(); throw new Error("token needed"); }
  if (!res.ok) throw new Error((data && data.error) || `${res.status} ${res.statusText}`);
  return data;
}

function toast(message, error = false) {
  const t = el("div", { class: "toast" + (error ? " error" : ""), text: message });
  $("toasts").append(t);
  setTimeout(() => t.remove(), error ? 9000 : 4000);
}

function bytes(n) {
  if (n === null || n === undefined) return "?";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return i === 0 ? `${n} B` : `${n.toFixed(n < 10 ? 2 : 1)} ${units[i]}`;
}

function seconds(s) {
  if (s === null || s === undefined || !isFinite(s)) return "";
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 90) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

const normalize = (s) => String(s).replace(/[_-]/g, " ").toLowerCase().split(/\s+/).filter(Boolean).join(" ");
const randomSeed = () => Math.floor(Math.random() * 2 ** 31);

function showLocked() {
  $("locked").classList.remove("hidden");
  $("views").classList.add("hidden");
}

function confirmDialog(title, text, ok = "Delete") {
  return new Promise((resolve) => {
    const d = $("dialog");
    $("dialog-title").textContent = title;
    $("dialog-text").textContent = text;
    $("dialog-ok").textContent = ok;
    const done = (value) => { d.close(); resolve(value); };
    $("dialog-ok").onclick = () => done(true);
    $("dialog-cancel").onclick = () => done(false);
    d.oncancel = () => resolve(false);
    d.showModal();
  });
}

// ------------------------------------------------------------------------------------------ views

function showView(name) {
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.view === name);
  for (const view of document.querySelectorAll(".view")) view.classList.toggle("hidden", view.id !== `view-${name}`);
  if (name === "gallery") loadGallery(true);
  if (name === "models") loadModels();
}

// ------------------------------------------------------------------------------------------ generate form

async function loadPresets() {
  const data = await api("/api/presets");
  const select = $("preset");
  select.replaceChildren();
  for (const p of data.presets) {
    const label = `${p.name}${p.ready ? "" : " (not downloaded)"}`;
    select.append(el("option", { value: p.name, text: label }));
  }
  state.presets = data.presets;
  select.value = state.config.defaults.preset;
  await choosePreset(select.value, true);
}

async function choosePreset(name, applyDefaults) {
  const info = await api(`/api/presets/${encodeURIComponent(name)}`);
  const key = (p) => p && p.classes.map((c) => c.join("|")).join("\n");
  if (state.preset && key(state.preset) !== key(info)) state.chosen = [];  // other classes: ids mean other things
  state.preset = info;
  state.classes = info.classes.map(([id, ...names]) => ({ id, names, key: names.map(normalize).join("|") }));
  const sampler = $("sampler");
  sampler.replaceChildren(...info.samplers.map((s) => el("option", { value: s, text: s })));
  const p = (state.presets || []).find((x) => x.name === name);
  const hint = $("preset-hint");
  hint.textContent = p ? `${p.description}${p.ready ? "" : " — download it on the Models page"}` : "";
  hint.classList.toggle("warn", !!p && !p.ready);
  $("class-count").textContent = `${info.num_classes} classes`;
  if (applyDefaults) setDefaults();
  renderChips();
  estimateSoon();
}

function setDefaults() {
  const d = state.preset.defaults;
  $("steps").value = d.steps;
  $("sampler").value = d.sampler;
  $("guidance").value = d.guidance;
  $("scale").value = d.scale;
  $("t-min").value = d.interval[0];
  $("t-max").value = d.interval[1];
  $("dtype").value = state.config.defaults.dtype;
  $("quantize").value = state.config.defaults.quantize || "";
  $("preview-every").value = state.config.defaults.preview_every;
  $("low-memory").checked = !!state.config.defaults.low_memory;
  if (!$("seeds").value) $("seeds").value = String(randomSeed());
  if (!state.chosen.length && state.classes.length) {
    state.chosen = [state.classes[Math.min(1, state.classes.length - 1)].id];
    state.placeholderClass = true;
  }
  renderChips();
  estimateSoon();
}

function className(id) {
  const c = state.classes[id];
  return c ? c.names[0] : String(id);
}

// "golden retriever #207"; "#3" where the name is only the id (digits-demo)
const classLabel = (id) => (className(id) !== String(id) ? `${className(id)} #${id}` : `#${id}`);

function renderChips() {
  const chips = $("chips");
  const placeholder = { class: "chip default-class", title: "The form's default class: the first class you add replaces it" };
  chips.replaceChildren(...state.chosen.map((id, i) => el("span", { ...(state.placeholderClass ? placeholder : { class: "chip" }), dataset: { id } },
    classLabel(id),
    el("button", { type: "button", title: "Remove", text: "×", onclick: () => { state.chosen.splice(i, 1); state.placeholderClass = false; renderChips(); estimateSoon(); } }))));
}

function searchClasses(query) {
  const q = normalize(query);
  if (!q) return [];
  const asId = /^\d+$/.test(q) ? Number(q) : null;
  // the id first, then names equal to the query ("otter" before "otterhound"), then names starting with it,
  // then words starting with it, then any name containing it
  const rank = (c) => {
    if (c.id === asId) return 0;
    const names = c.key.split("|");
    if (names.includes(q)) return 1;
    if (names.some((n) => n.startsWith(q))) return 2;
    if (names.some((n) => ` ${n}`.includes(` ${q}`))) return 3;
    return c.key.includes(q) ? 4 : null;
  };
  return state.classes.map((c) => [rank(c), c]).filter(([r]) => r !== null)
    .sort((a, b) => a[0] - b[0] || a[1].id - b[1].id).slice(0, 40).map(([, c]) => c);
}

function renderResults() {
  const list = $("class-results");
  const found = searchClasses($("class-search").value);
  state.active = 0;
  list.replaceChildren(...found.map((c, i) => el("li", { class: i === 0 ? "active" : "", role: "option", onmousedown: (e) => { e.preventDefault(); addClass(c.id); } },
    el("span", { class: "id", text: `#${c.id}` }), el("span", { text: c.names.slice(0, 3).join(", ") }))));
  list.classList.toggle("hidden", found.length === 0);
  state.found = found;
}

function addClass(id) {
  if (state.placeholderClass) state.chosen = [];  // the first class the user picks replaces the form's default
  state.placeholderClass = false;
  state.chosen.push(id);
  $("class-search").value = "";
  renderResults();
  renderChips();
  estimateSoon();
}

function seedsFromInput() {
  const text = $("seeds").value.trim();
  if (!text) return [];
  return text.split(/[\s,]+/).filter(Boolean).map((s) => {
    if (!/^\d+$/.test(s)) throw new Error(`seed ${JSON.stringify(s)} is not a whole number >= 0`);
    return Number(s);
  });
}

function numberOrNull(id) {
  const v = $(id).value.trim();
  return v === "" ? null : Number(v);
}

function jobBody() {
  const guidance = $("guidance").value;
  const body = {
    preset: $("preset").value, class: state.chosen.map(String), seed: seedsFromInput(),
    num_images: numberOrNull("num") || 1, steps: numberOrNull("steps"), sampler: $("sampler").value,
    guidance, dtype: $("dtype").value, batch_size: numberOrNull("batch"),
    preview_every: numberOrNull("preview-every") ?? 0, low_memory: $("low-memory").checked,
  };
  if ($("quantize").value) body.quantize = Number($("quantize").value);
  if (guidance !== "none") {
    body.scale = numberOrNull("scale");
    const lo = numberOrNull("t-min"), hi = numberOrNull("t-max");
    if (lo !== null && hi !== null && body.scale !== 1) body.interval = [lo, hi];
  }
  return body;
}

let estimateTimer = null;
function estimateSoon() {
  clearTimeout(estimateTimer);
  estimateTimer = setTimeout(estimate, 250);
}

async function estimate() {
  const box = $("estimate");
  if (!state.chosen.length) { box.textContent = "Add at least one class."; return; }
  let body;
  try { body = jobBody(); } catch (e) { box.textContent = e.message; return; }
  if (!body.seed.length) body.seed = [0];
  try {
    const e = await api("/api/estimate", { method: "POST", body });
    box.replaceChildren(`${e.images} image${e.images === 1 ? "" : "s"} · ${e.steps} steps · peak memory ≈ `,
      el("b", { text: bytes(e.memory_bytes) }), " · ",
      e.seconds !== null ? el("b", { text: `≈ ${seconds(e.seconds)}` }) : el("span", { text: "time: after the first job" }));
  } catch (err) { box.textContent = err.message; }
}

async function submit(event) {
  if (event) event.preventDefault();
  let body;
  try { body = jobBody(); } catch (e) { toast(e.message, true); return; }
  if (!body.class.length) { toast("Add at least one class.", true); return; }
  if (!body.seed.length) { body.seed = [randomSeed()]; $("seeds").value = String(body.seed[0]); }
  try {
    const res = await api("/api/jobs", { method: "POST", body });
    track(res.id, body);
  } catch (e) { toast(e.message, true); }
}

// ------------------------------------------------------------------------------------------ live panel

function track(id, body) {
  // the job's first events may arrive before the POST's answer: keep what they set
  const job = jobFor(id);
  if (body) job.body = body;
  renderQueue();
}

function renderQueue() {
  const waiting = [...state.jobs.values()].filter((j) => j.status === "queued");
  $("queue").replaceChildren(...waiting.map((j) => el("li", {},
    el("span", { text: `queued: ${j.body ? `${j.body.class.length} class${j.body.class.length === 1 ? "" : "es"} × ${j.body.seed.length} seed${j.body.seed.length === 1 ? "" : "s"}` : j.id}` }),
    el("button", { type: "button", class: "link", text: "cancel", onclick: () => cancel(j.id) }))));
}

function setStatus(text, kind = "") {
  const s = $("status");
  s.textContent = text;
  s.className = `status ${kind}`;
}

function showStage(src, badge) {
  const img = $("stage-image");
  img.onload = () => img.classList.toggle("pixelated", img.naturalWidth < 128);  // tiny images: crisp pixels
  img.src = src;
  img.classList.remove("hidden");
  $("stage-placeholder").classList.add("hidden");
  let b = $("stage").querySelector(".badge");
  if (!b) { b = el("span", { class: "badge" }); $("stage").append(b); }
  b.textContent = badge;
}

function startJob(job) {
  state.current = job;
  state.previews = 0;
  $("stage").dataset.previews = "0";
  $("job-grid").replaceChildren();
  $("job-grid").dataset.job = job.id;
  $("cancel").classList.remove("hidden");
  $("engine").classList.add("busy");
  setStatus("starting…");
  $("progress-fill").style.width = "0%";
}

function endJob(job, kind, text) {
  refreshEngine();
  $("cancel").classList.add("hidden");
  $("engine").classList.remove("busy");
  setStatus(text, kind);
  if (kind === "done") $("progress-fill").style.width = "100%";
  state.current = null;
  loadRecent();
}

async function cancel(id) {
  try { await api(`/api/jobs/${encodeURIComponent(id)}/cancel`, { method: "POST", body: {} }); } catch (e) { toast(e.message, true); }
}

function jobFor(id) {
  let job = state.jobs.get(id);
  if (!job) { job = { id, status: "queued", step: 0, steps: 0, images: [] }; state.jobs.set(id, job); }
  return job;
}

function connectEvents() {
  const source = new EventSource("/api/events");
  const on = (kind, fn) => source.addEventListener(kind, (e) => fn(JSON.parse(e.data)));
  on("queued", (d) => { const j = jobFor(d.id); if (!j.body && d.job) j.body = { class: d.job.class, seed: d.job.seed }; renderQueue(); });
  on("started", (d) => { const j = jobFor(d.id); j.status = "running"; renderQueue(); startJob(j); });
  on("loading", (d) => { if (d.id) setStatus(`loading ${d.models.join(" + ")}…`); });
  on("progress", (d) => {
    const j = jobFor(d.id); j.step = d.step; j.steps = d.steps;
    if (state.current && state.current.id === d.id) {
      $("progress-fill").style.width = `${(100 * d.step) / Math.max(d.steps, 1)}%`;
      const batch = d.batches > 1 ? ` · batch ${d.batch}/${d.batches}` : "";
      setStatus(`step ${d.step}/${d.steps}${batch}${d.eta !== null && d.step < d.steps ? ` · ${seconds(d.eta)} left` : ""}`);
    }
  });
  on("preview", (d) => {
    if (!state.current || state.current.id !== d.id) return;
    state.previews += 1;
    $("stage").dataset.previews = String(state.previews);
    $("stage").classList.add("previewing");
    showStage(d.image, `preview · step ${d.step}/${d.steps}`);
  });
  on("image", (d) => {
    const j = jobFor(d.id); j.images.push(d.name);
    const url = `/api/images/${encodeURIComponent(d.name)}`;
    $("stage").classList.remove("previewing");
    showStage(url, "final");
    const body = j.body || {};
    const nClasses = (body.class || []).length || 1;
    $("job-grid").style.gridTemplateColumns = `repeat(${Math.min(Math.max(nClasses * (body.num_images || 1), 1), 8)}, minmax(72px, 120px))`;
    $("job-grid").append(el("figure", { dataset: { name: d.name } }, el("img", { src: url, alt: d.name, loading: "lazy" }),
      el("figcaption", { text: d.class === null ? `grid · seed ${d.seed}` : `${classLabel(d.class)} · seed ${d.seed}` })));
  });
  on("done", (d) => { const j = jobFor(d.id); j.status = "done"; renderQueue(); endJob(j, "done", `done · ${d.images.length} image${d.images.length === 1 ? "" : "s"} in ${seconds(d.seconds)}`); });
  on("cancelled", (d) => {
    const j = jobFor(d.id); j.status = "cancelled"; renderQueue();
    if (state.current && state.current.id === d.id) endJob(j, "cancelled", `cancelled at step ${d.step} of ${d.steps}`);
  });
  on("failed", (d) => { const j = jobFor(d.id); j.status = "failed"; renderQueue(); endJob(j, "failed", "failed"); toast(d.error, true); });
  on("download", (d) => renderDownload(d));
  on("log", (d) => toast(d.message));
  on("loaded", () => refreshEngine());
  source.onerror = () => setTimeout(() => { if (source.readyState === EventSource.CLOSED) connectEvents(); }, 1500);
}

async function refreshEngine() {
  try {
    const c = await api("/api/config");
    const e = c.worker.engine || {};
    $("engine").textContent = e.backend ? `${e.backend} · ${e.device} · ${e.dtype}${e.quantize ? ` · ${e.quantize}-bit` : ""}${c.worker.loaded.length ? " · warm" : ""}` : `${c.backend} · no models loaded`;
  } catch { /* shown elsewhere */ }
}

// ------------------------------------------------------------------------------------------ gallery

function cardText(item) {
  const s = item.summary;
  if (!s) return ["(no rae metadata)", ""];
  const n = (s.classes || []).length;
  const what = s.format === "rae-grid/1" ? `grid · ${n} class${n === 1 ? "" : "es"}` : `${s.class_name ?? s.class ?? "?"} · seed ${s.seed ?? "?"}`;
  const guidance = s.guidance && s.guidance !== "none" && s.scale !== null ? `${s.guidance} ${s.scale}` : s.guidance;
  return [what, [s.sampler && `${s.sampler} ${s.steps ?? ""}`.trim(), guidance, s.backend].filter(Boolean).join(" · ")];
}

async function loadGallery(reset) {
  if (reset) { state.gallery.offset = 0; state.gallery.items = []; }
  const data = await api(`/api/images?offset=${state.gallery.offset}&limit=120`);
  state.gallery.total = data.total;
  state.gallery.items.push(...data.items);
  state.gallery.offset += data.items.length;
  $("gallery-count").textContent = data.total ? String(data.total) : "";
  $("gallery-title").textContent = `Gallery · ${data.total} image${data.total === 1 ? "" : "s"}`;
  const cards = $("cards");
  if (reset) cards.replaceChildren();
  for (const item of data.items) {
    const [line1, line2] = cardText(item);
    cards.append(el("div", { class: "card", dataset: { name: item.name }, onclick: () => inspect(item.name) },
      thumbnail(item, { loading: "lazy" }),
      el("div", { class: "caption", text: line1, title: item.name }), el("div", { class: "sub", text: line2 })));
  }
  $("more").classList.toggle("hidden", state.gallery.offset >= data.total);
  if (!data.total) cards.replaceChildren(el("div", { class: "placeholder", text: "No images yet: images you generate (and PNGs written by rae sample into this folder) appear here." }));
}

function thumbnail(item, attrs) {  // a file that is no readable image (width unknown) gets a box, not a broken image
  if (item.width === null) return el("div", { class: "unreadable", text: "not an image", ...attrs });
  return el("img", { src: `/api/images/${encodeURIComponent(item.name)}/thumbnail`, alt: item.name, ...attrs });
}

async function loadRecent() {
  try {
    const data = await api("/api/images?limit=24");
    $("gallery-count").textContent = data.total ? String(data.total) : "";
    $("recent").replaceChildren(...data.items.map((item) => el("figure", { dataset: { name: item.name } },
      thumbnail(item, { title: cardText(item).join(" · "), onclick: () => { showView("gallery"); inspect(item.name); } }))));
  } catch { /* locked */ }
}

async function inspect(name) {
  state.gallery.selected = name;
  for (const c of document.querySelectorAll(".card")) c.classList.toggle("selected", c.dataset.name === name);
  const panel = $("inspector");
  const url = `/api/images/${encodeURIComponent(name)}`;
  panel.replaceChildren(el("div", { class: "placeholder", text: name }));  // the last image's buttons go at once
  let record = null;
  try { record = (await api(`${url}/metadata`)).record; } catch (e) { toast(e.message, true); return; }
  if (state.gallery.selected !== name) return;  // another image was picked meanwhile
  const rows = [];
  const add = (k, v) => { if (v !== undefined && v !== null && v !== "") rows.push(el("dt", { text: k }), el("dd", { text: String(v) })); };
  add("file", name);
  if (record && typeof record === "object") {  // untrusted (any PNG can carry a rae chunk): every field may be missing
    const obj = (v) => (v && typeof v === "object" ? v : {});
    const list = (v) => (Array.isArray(v) ? v.join(", ") : "");
    const src = obj(record.source), sampler = obj(record.sampler), g = obj(record.guidance);
    add("pipeline", src.preset || src.model || src.config);
    add("class", record.class !== undefined ? `${record.class_name} (#${record.class})` : list(record.class_names));
    add("seed", record.seed ?? list(record.seeds));
    if (sampler.num_steps !== undefined) add("sampler", `${sampler.mode === "sde" ? "sde" : sampler.method}, ${sampler.num_steps} points`);
    if (g.method) add("guidance", g.method === "none" ? "none" : `${g.method} ${g.scale} on [${g.t_min}, ${g.t_max}]`);
    if (record.backend) add("backend", `${record.backend} ${record.device || ""} ${record.dtype || ""}${record.quantize ? ` ${record.quantize}-bit` : ""}`);
  }
  const pre = el("pre", { class: "hidden", text: JSON.stringify(record, null, 2) });
  const act = (label, fn, attrs = {}) => el("button", { type: "button", text: label, onclick: fn, ...attrs });
  const needs = record ? {} : { disabled: "" };
  const item = state.gallery.items.find((i) => i.name === name);
  panel.replaceChildren(
    item && item.width === null ? el("div", { class: "unreadable", text: "not an image Pillow can read" }) : el("img", { src: url, alt: name }),
    el("dl", {}, ...rows),
    el("div", { class: "buttons" },
      act("Use all", () => useJob(name, false), { ...needs, "data-testid": "use-all" }),
      act("Remix", () => useJob(name, true), { ...needs, "data-testid": "remix" }),
      act("Replay", () => replay(name), { ...needs, "data-testid": "replay" }),
      act("Metadata", () => pre.classList.toggle("hidden")),
      act("Reveal", () => post(`${url}/reveal`, "Shown in the file manager")),
      act("Save copy", async () => { const r = await post(`${url}/save-copy`); if (r) toast(`Saved a copy: ${r.path}`); }),
      act("Delete", () => remove(name), { class: "danger", "data-testid": "delete" })),
    pre);
  if (window.matchMedia("(max-width: 900px)").matches) panel.scrollIntoView({ block: "start" });  // below the cards
}

async function post(path, message) {
  try { const r = await api(path, { method: "POST", body: {} }); if (message) toast(message); return r; } catch (e) { toast(e.message, true); return null; }
}

async function useJob(name, remix) {
  let job;
  try { job = await api(`/api/images/${encodeURIComponent(name)}/job`); } catch (e) { toast(e.message, true); return; }
  if (job.preset && job.preset !== $("preset").value) { $("preset").value = job.preset; await choosePreset(job.preset, false); }
  state.chosen = job.class.map((c) => Number(c)).filter((c) => !Number.isNaN(c));
  state.placeholderClass = false;
  $("seeds").value = remix ? String(randomSeed()) : job.seed.join(", ");
  $("num").value = job.num_images;
  if (job.steps) $("steps").value = job.steps;
  if (job.sampler) $("sampler").value = job.sampler;
  if (job.guidance) $("guidance").value = job.guidance;
  if (job.scale !== null) $("scale").value = job.scale;
  if (job.interval) { $("t-min").value = job.interval[0]; $("t-max").value = job.interval[1]; }
  $("dtype").value = job.dtype;
  $("quantize").value = job.quantize ? String(job.quantize) : "";
  $("batch").value = job.batch_size;
  renderChips();
  showView("generate");
  estimateSoon();
  toast(remix ? "Settings loaded with a new seed" : "All settings loaded");
}

async function replay(name) {
  try {
    const res = await api(`/api/images/${encodeURIComponent(name)}/replay`, { method: "POST", body: { preview_every: numberOrNull("preview-every") ?? 0 } });
    track(res.id, null);
    showView("generate");
  } catch (e) { toast(e.message, true); }
}

async function remove(name) {
  if (!(await confirmDialog("Delete this image?", `${name} will be deleted from the output folder (with its JSON sidecar, if any). This cannot be undone.`))) return;
  try {
    await api(`/api/images/${encodeURIComponent(name)}`, { method: "DELETE" });
    toast(`Deleted ${name}`);
    $("inspector").replaceChildren(el("div", { class: "placeholder", text: "Select an image." }));
    // the card goes where it is: the pages already shown and the scroll position stay
    const g = state.gallery;
    g.items = g.items.filter((i) => i.name !== name);
    g.total -= 1;
    g.offset -= 1;
    for (const card of document.querySelectorAll(".card")) if (card.dataset.name === name) card.remove();
    $("gallery-title").textContent = `Gallery · ${g.total} image${g.total === 1 ? "" : "s"}`;
    if (!g.total) loadGallery(true);
    loadRecent();
  } catch (e) { toast(e.message, true); }
}

// ------------------------------------------------------------------------------------------ models

async function loadModels() {
  const data = await api("/api/presets");
  state.presets = data.presets;
  $("offline").classList.toggle("hidden", !data.offline);
  $("store").textContent = `files in the ${data.store}`;
  const card = (p) => {
    const status = p.builtin ? el("span", { class: "pill ok", text: "built in" }) :
      el("span", { class: `pill ${p.ready ? "ok" : "missing"}`, text: p.ready ? "downloaded" : "not downloaded" });
    const files = el("table", { class: "files" }, ...p.files.map((f) => el("tr", {},
      el("td", { text: `${f.model}` }), el("td", { text: `${f.repo}/${f.filename}` }),
      el("td", { text: f.cached ? bytes(f.bytes) : "missing" }))));
    const dl = el("div", { class: "download", id: `download-${p.name}` });
    if (!p.ready) {
      dl.append(el("button", { type: "button", text: data.offline ? "Download (offline)" : "Download", onclick: () => download(p.name) }),
        el("code", { text: `rae download ${p.name}` }));
    }
    return el("div", { class: "preset", dataset: { name: p.name } },
      el("header", {}, el("h3", { text: p.name }), status, p.default ? el("span", { class: "pill", text: "default" }) : null,
        el("span", { class: "muted", text: `${(p.parameters / 1e6).toFixed(1)} M parameters · ${p.ready ? `${bytes(p.bytes)} on disk` : `${bytes(p.bytes)} of ≈ ${bytes(p.parameters * 4)} (float32) downloaded`}` })),
      el("div", { class: "muted", text: `${p.description}${p.reported ? ` — ${p.reported}` : ""}` }), files, dl);
  };
  $("presets").replaceChildren(...data.presets.map(card));
  $("autoencoders").replaceChildren(...data.autoencoders.map(card));
}

async function download(name) {
  state.downloads.delete(name);
  try {
    const started = await api(`/api/presets/${encodeURIComponent(name)}/download`, { method: "POST", body: {} });
    if (!state.downloads.has(name)) renderDownload(started);  // its events may have come first (a fast failure)
  } catch (e) { toast(e.message, true); }
}

function renderDownload(d) {
  state.downloads.set(d.name, d);
  const box = $(`download-${d.name}`);
  if (!box) return;
  if (d.status === "running") {
    const fraction = d.total ? d.done / d.total : 0;
    const fill = el("div", { class: "fill" });
    fill.style.width = `${(100 * fraction).toFixed(1)}%`;  // CSSOM, allowed by the CSP (style attributes are not)
    box.replaceChildren(el("div", { class: "bar" }, fill),
      el("span", { class: "muted", text: `${d.file || ""} ${d.total ? `${bytes(d.done)} / ${bytes(d.total)}` : ""}` }));
  } else if (d.status === "done") {
    toast(`${d.name} is downloaded`);
    loadModels();
    loadPresets();
  } else if (d.status === "failed") {
    box.replaceChildren(el("span", { class: "hint warn", text: d.error }));
    toast(d.error, true);
  }
}

// ------------------------------------------------------------------------------------------ start

const systemTheme = () => (window.matchMedia("(prefers-color-scheme: light)").matches ? "light" : "dark");

function applyTheme(theme) {  // the choice made on the page, else the system's
  if ((theme || systemTheme()) === "light") document.documentElement.dataset.theme = "light";
  else delete document.documentElement.dataset.theme;
}

async function main() {
  applyTheme(localStorage.getItem("rae-theme"));
  window.matchMedia("(prefers-color-scheme: light)").addEventListener("change", () => applyTheme(localStorage.getItem("rae-theme")));
  $("theme").addEventListener("click", () => {
    const next = document.documentElement.dataset.theme === "light" ? "dark" : "light";
    localStorage.setItem("rae-theme", next);
    applyTheme(next);
  });
  for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => showView(tab.dataset.view));
  $("open-gallery").addEventListener("click", () => showView("gallery"));
  $("form").addEventListener("submit", submit);
  $("form").addEventListener("input", (e) => { if (e.target.id !== "class-search") estimateSoon(); });
  $("preset").addEventListener("change", (e) => choosePreset(e.target.value, true));
  $("defaults").addEventListener("click", setDefaults);
  $("dice").addEventListener("click", () => { $("seeds").value = String(randomSeed()); });
  $("cancel").addEventListener("click", () => { if (state.current) cancel(state.current.id); });
  $("more").addEventListener("click", () => loadGallery(false));
  if (!/Mac|iPhone|iPad/.test(navigator.platform)) $("generate").querySelector("kbd").textContent = "Ctrl ↵";
  const search = $("class-search");
  search.addEventListener("input", renderResults);
  search.addEventListener("blur", () => setTimeout(() => $("class-results").classList.add("hidden"), 100));
  search.addEventListener("keydown", (e) => {
    const found = state.found || [];
    if (e.key === "Enter") { e.preventDefault(); if (found.length) addClass(found[state.active || 0].id); }
    if ((e.key === "ArrowDown" || e.key === "ArrowUp") && found.length) {
      e.preventDefault();
      state.active = (((state.active || 0) + (e.key === "ArrowDown" ? 1 : -1)) + found.length) % found.length;
      const items = $("class-results").children;
      for (let i = 0; i < items.length; i++) items[i].classList.toggle("active", i === state.active);
      items[state.active].scrollIntoView({ block: "nearest" });
    }
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !$("class-results").classList.contains("hidden")) {  // Esc first closes the list
      $("class-results").classList.add("hidden");
      return;
    }
    if (e.key === "Escape" && state.current && !$("dialog").open) { e.preventDefault(); cancel(state.current.id); }
    if (e.key === "Enter" && (e.metaKey || e.ctrlKey)) submit(e);
  });
  try {
    state.config = await api("/api/config");
  } catch { return; }
  $("version").textContent = `v${state.config.version}`;
  if (state.config.backend !== "mlx") {
    $("quantize").disabled = true;
    $("quantize").title = "Quantization needs the MLX backend (rae app --backend mlx)";
  }
  $("gallery-folder").textContent = state.config.output_dir;
  refreshEngine();
  connectEvents();
  await loadPresets();
  loadRecent();
  document.body.dataset.ready = "1";
}

main();
