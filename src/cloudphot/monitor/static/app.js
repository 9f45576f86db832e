// cloudphot monitor: the event/job tree and job pages, from the JSON API.
// No build step and no external code: everything here is served by `cloudphot serve`.
// Text from the workspace (file names, errors) is always inserted as text, never as HTML;
// the only HTML inserted is the state graph SVG, which the server builds and escapes.
"use strict";

const POLL_MS = 3000;
const STATES = ["FAILED", "ABORTED", "RUNNING", "PENDING", "SUCCEEDED"];
const view = { filter: "", failed: false, all: false, open: new Set(), attempt: null };
let timer = null;
let lastTreeKey = "";

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// the session token the server put in the page; state-changing requests send it back
const TOKEN = (document.querySelector('meta[name="cloudphot-token"]') || {}).content || "";

async function api(path, opts) {
  const headers = { "Accept": "application/json" };
  if (opts && opts.method === "POST") headers["X-Cloudphot-Token"] = TOKEN;
  const r = await fetch(path, Object.assign({ headers, credentials: "same-origin" }, opts || {}));
  const body = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
  return body;
}

function badge(state) { return h("span", { class: `badge ${state}` }, state); }
function pretty(v) { return v === null || v === undefined ? "—" : JSON.stringify(v, null, 2); }
function secs(s) { return s === null || s === undefined ? "" : (s < 60 ? `${s.toFixed(1)}s` : `${(s / 60).toFixed(1)} min`); }
function usd(x) { return x === undefined || x === null ? "—" : (x < 0.01 ? `$${x.toPrecision(3)}` : `$${x.toFixed(4)}`); }
function stamp() { document.getElementById("refreshed").textContent = "updated " + new Date().toLocaleTimeString(); }

function renderCounts(counts) {
  const box = document.getElementById("counts");
  box.replaceChildren(...STATES.map(s => h("button", {
    class: `chip ${s}${counts[s] ? "" : " zero"}`, title: `show ${s.toLowerCase()} jobs`, "data-state": s,
    onclick: () => { location.hash = "#/"; view.filter = s; const f = document.getElementById("filter"); if (f) f.value = s; refresh(); },
  }, s.toLowerCase(), h("b", {}, counts[s] || 0))));
}

async function retry(jobId, button) {
  button.disabled = true;
  button.textContent = "retrying…";
  try {
    await api(`/api/jobs/${encodeURIComponent(jobId)}/retry`, { method: "POST" });
    button.textContent = "retry started";
    refresh();
  } catch (e) {
    button.textContent = "retry";
    button.disabled = false;
    alert(`retry failed: ${e.message}`);
  }
}

// ------------------------------------------------------------------- tree page
function jobLine(n) {
  const d = n.detail || {};
  const line = h("div", { class: "job", "data-job": n.id, "data-state": n.state },
    badge(n.state),
    h("a", { class: "task", href: `#/jobs/${encodeURIComponent(n.id)}` }, n.label),
    d.branch ? h("span", { class: "branch", title: "replay branch" },
      `branch ${d.branch}: ${(d.changed || []).join(", ") || "same options"}`) : null,
    h("span", { class: "dim mono" }, n.id),
    h("span", { class: "dim" }, `attempts=${d.attempts ?? 0}`),
    d.duration_s !== null && d.duration_s !== undefined ? h("span", { class: "dim" }, secs(d.duration_s)) : null,
    d.where ? h("span", { class: "dim" }, d.where) : null,
    d.result ? h("span", { class: "result" }, d.result) : null);
  if (!(n.state === "FAILED" || n.state === "ABORTED")) return [line];
  const reason = [d.error, describeCause(d.cause)].filter(Boolean).join(": ");
  // bad data fails again on a retry: say what to fix instead of offering the button
  const next = d.fix ? h("div", { class: "rerun fix" }, "fix: ", d.fix, "; then rerun: ", h("code", {}, d.rerun || ""))
    : h("div", { class: "rerun" }, "rerun: ", h("code", {}, d.rerun || ""), " ",
      h("button", { class: "retry", onclick: ev => retry(n.id, ev.target) }, "retry"));
  return [line, h("div", { class: "failure" }, h("div", { class: "reason" }, reason || "failed"), next)];
}

function describeCause(cause) {
  if (!cause) return "";
  try {
    const doc = JSON.parse(cause);
    if (doc && doc.errorMessage) return doc.errorMessage;
    if (doc && doc.Containers) {
      const c = (doc.Containers || [{}])[0] || {};
      return `${doc.StopCode} (${doc.StoppedReason}), exit code ${c.ExitCode} ${c.Reason || ""}`;
    }
  } catch (e) { /* plain text */ }
  return cause.length > 400 ? cause.slice(0, 399) + "…" : cause;
}

function walkCount(n) {
  let jobs = 0, all = 0;
  (function go(m) { all++; if (m.kind === "job") jobs++; (m.children || []).forEach(go); })(n);
  return { jobs, all };
}
function hasFailure(n) { return n.state === "FAILED" || n.state === "ABORTED" || (n.children || []).some(hasFailure); }
function allOk(n) { return (n.kind !== "job" || n.state === "SUCCEEDED") && (n.children || []).every(allOk); }

function nodeItem(n) {
  const li = h("li", { "data-id": n.id, "data-kind": n.kind });
  if (n.kind === "event") {
    li.append(h("div", { class: "ev" }, h("span", { class: "type" }, n.label),
      h("span", { class: "subj" }, n.subject), h("span", { class: "dim mono" }, n.id)));
  } else {
    li.append(...jobLine(n));
  }
  const kids = n.children || [];
  if (!kids.length) return li;
  const ul = h("ul", {}, kids.map(c => {
    const size = walkCount(c);
    if (!view.all && !view.filter && c.kind === "job" && allOk(c) && size.all > 6) {
      const det = h("details", { class: "ok", "data-fold": c.id },
        h("summary", {}, `✓ ${c.label} and ${size.jobs - 1} job(s) below, all succeeded`),
        h("ul", {}, nodeItem(c)));
      if (view.open.has(c.id)) det.open = true;
      det.addEventListener("toggle", () => det.open ? view.open.add(c.id) : view.open.delete(c.id));
      return h("li", {}, det);
    }
    return nodeItem(c);
  }));
  li.append(ul);
  return li;
}

function treePage() {
  const app = document.getElementById("app");
  const input = h("input", { type: "search", id: "filter", placeholder: "filter: subject, task, state or id", value: view.filter, autocomplete: "off" });
  let t = null;
  input.addEventListener("input", () => { clearTimeout(t); t = setTimeout(() => { view.filter = input.value.trim(); refresh(); }, 250); });
  const failed = h("input", { type: "checkbox", id: "failed-only" });
  failed.checked = view.failed;
  failed.addEventListener("change", () => { view.failed = failed.checked; refresh(); });
  const all = h("input", { type: "checkbox", id: "expand-all" });
  all.checked = view.all;
  all.addEventListener("change", () => { view.all = all.checked; refresh(); });
  app.replaceChildren(
    h("div", { class: "toolbar" }, input, h("label", {}, failed, " failures only"),
      h("label", {}, all, " expand succeeded"), h("span", { id: "tree-summary", class: "dim" })),
    h("div", { id: "tree-error" }),
    h("div", { id: "fields" }),
    h("div", { id: "dead-letters" }),
    h("div", { class: "card" }, h("ul", { class: "tree", id: "tree" })));
  lastTreeKey = "";
}

async function loadTree() {
  const q = new URLSearchParams();
  if (view.filter) q.set("q", view.filter);
  if (view.failed) q.set("failed", "1");
  if (view.all) q.set("all", "1");
  const data = await api(`/api/tree?${q}`);
  renderCounts(data.counts);
  renderDeadLetters(data.dead_letters || []);
  const key = JSON.stringify([data.roots, data.collapsed, data.omitted, data.fields, view.all, view.filter]);
  if (key === lastTreeKey) return;
  lastTreeKey = key;
  const tree = document.getElementById("tree");
  if (!tree) return;
  const items = data.roots.map(nodeItem);
  for (const c of data.collapsed) {
    items.push(h("li", { class: "folded", "data-folded": c.label },
      `✓ ${c.roots} ${c.label} subtree(s), ${c.jobs} job(s), all succeeded `,
      h("button", { class: "linkish", onclick: () => { view.all = true; document.getElementById("expand-all").checked = true; refresh(); } }, "show")));
  }
  if (data.omitted) items.push(h("li", { class: "dim" }, `… ${data.omitted} more root(s); narrow the filter to see them`));
  if (!items.length) items.push(h("li", { class: "dim" }, view.filter ? `nothing matches “${view.filter}”` : "no events yet: upload exposures to the raw bucket"));
  tree.replaceChildren(...items);
  renderFields(data.fields || []);
  document.getElementById("tree-summary").textContent =
    `${data.events} event(s), ${data.jobs} job(s); ${data.matched_roots} root(s) shown or folded`;
}

// events the dispatcher set aside: they block nothing, but nothing ran for them either
function renderDeadLetters(letters) {
  const box = document.getElementById("dead-letters");
  if (!box) return;
  box.replaceChildren(...(letters.length ? [h("div", { class: "card" },
    h("h2", {}, `${letters.length} dead letter(s): events set aside, nothing ran for them`),
    ...letters.map(d => h("div", { class: "failure", "data-dead-letter": d.event_id },
      h("div", { class: "reason" }, `${d.type || "event"} ${d.event_id} (${d.subject}): ${d.error}: ${describeCause(d.cause)}`),
      h("div", { class: "rerun" }, `set aside ${d.attempts}x, last ${d.at}; take it back: `,
        h("code", {}, `cloudphot retry ${d.event_id}`)))))] : []));
}

// Fields: where each stands; the ones waiting for the user say what to do next.
function renderFields(fields) {
  const box = document.getElementById("fields");
  if (!box) return;
  if (!fields.length) { box.replaceChildren(); return; }
  box.replaceChildren(h("div", { class: "card" }, h("h2", {}, "Fields"), h("table", {},
    h("tr", {}, h("th", {}, "field"), h("th", { class: "num" }, "exposures"), h("th", {}, "stage"), h("th", {}, "next")),
    fields.map(f => h("tr", { class: "field", "data-field": f.field_id, "data-stage": f.stage },
      h("td", {}, h("b", {}, f.field_id)), h("td", { class: "num" }, f.registered),
      h("td", { class: f.waiting ? "waiting" : (f.stage.includes("failed") ? "bad" : "") },
        f.stage + (f.stage === "waiting for manifest" ? ` ${f.manifest || "manifests/" + f.field_id + ".json"}` : "")
        + (f.stage === "in catalog" && f.catalog ? ` ${f.catalog}` : "")
        + (f.stars !== null && f.stars !== undefined ? ` (${f.stars} stars)` : "")),
      h("td", {}, f.next ? h("code", {}, f.next) : ""))))));
}

// ------------------------------------------------------------------- job page
function section(title, ...body) { return h("div", { class: "card" }, h("h2", {}, title), ...body); }
function kv(pairs) {
  return h("dl", { class: "grid" }, pairs.filter(p => p[1] !== null && p[1] !== undefined && p[1] !== "")
    .flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

const LEGEND = [["succeeded", "#d7f2dc", "#1d8102"], ["failed", "#fde2e1", "#d13212"],
  ["caught", "#fff0d6", "#e07700"], ["running", "#dbeafe", "#0972d3"], ["not reached", "#fff", "#9ba7b6"]];

async function jobPage(jobId, first) {
  const app = document.getElementById("app");
  let job;
  try {
    job = await api(`/api/jobs/${encodeURIComponent(jobId)}`);
  } catch (e) {
    app.replaceChildren(h("p", {}, h("a", { href: "#/" }, "← tree")), h("div", { class: "error-banner" }, e.message));
    return;
  }
  const status = await api("/api/status");
  renderCounts(status.counts);
  const attempts = job.attempts_list || [];
  const shown = attempts.find(a => a.name === view.attempt) || attempts[attempts.length - 1];
  let graph = null;
  if (shown) {
    try { graph = await api(`/api/executions/${encodeURIComponent(shown.name)}/graph`); } catch (e) { graph = { error: e.message }; }
  }
  const key = JSON.stringify([job, graph && graph.svg, shown && shown.name]);
  if (!first && key === lastTreeKey) return;
  lastTreeKey = key;

  const failed = job.state === "FAILED" || job.state === "ABORTED";
  const ev = job.event || {};
  const ran = job.ran_on || {};
  const head = h("div", { class: "card", id: "job-head", "data-state": job.state },
    h("p", { style: "margin:0 0 6px" }, h("a", { href: "#/" }, "← tree")),
    h("h1", {}, badge(job.state), job.task, h("span", { class: "dim mono", style: "font-size:13px" }, job.job_id),
      job.retryable ? h("button", { class: "retry", id: "retry", onclick: e => retry(job.job_id, e.target) }, "retry") : null,
      status.runner && status.runner.running ? h("span", { class: "dim" }, "runtime is running…") : null),
    failed ? h("div", { class: "failure", id: "job-error" },
      h("div", { class: "reason" }, job.reason || job.error || "failed"),
      job.fix ? h("div", { class: "rerun fix" }, "fix: ", job.fix, "; then rerun: ", h("code", {}, job.rerun || ""))
        : h("div", { class: "rerun" }, "rerun: ", h("code", {}, job.rerun || ""))) : null,
    kv([["event", h("span", {}, `${ev.type || ""} `, h("b", {}, ev.subject || ""), h("span", { class: "dim mono" }, ` ${job.event_id}`))],
      ["result", job.result || null],
      ["branch", job.branch ? `${job.branch}: ${(job.changed || []).join(", ") || "same options"} (replays ${(job.input || {}).replay_of || "?"})` : null],
      ["attempts", String(job.attempts)], ["run time", job.run_seconds !== null && job.run_seconds !== undefined ? `${secs(job.run_seconds)} (all attempts, waits excluded)` : null],
      ["created", job.created_at], ["updated", job.updated_at],
      ["execution", shown ? `${shown.state_machine} / ${shown.name} (${shown.status})` : "—"],
      ["ran on", [ran.runtime, ran.host && `${ran.host}:${ran.pid}`].filter(Boolean).join(" ") || "—"],
      ["CPU", ran.cpu_seconds !== undefined ? `${ran.cpu_seconds} s (runtime thread)` +
        (ran.worker_cpu_seconds ? ` + ${ran.worker_cpu_seconds} s on ECS workers` : "") : null],
      ["AWS cost", job.cost && job.cost.total_usd !== undefined ? `${usd(job.cost.total_usd)} (all attempts, list prices)` : null]]));

  const legend = h("div", { class: "legend" }, LEGEND.map(([name, fill, stroke]) =>
    h("span", {}, h("i", { style: `background:${fill};border-color:${stroke}` }), name)));
  const tabs = h("div", { class: "tabs" }, attempts.map((a, i) => h("button", {
    class: a === shown ? "on" : "", onclick: () => { view.attempt = a.name; jobPage(jobId, true); },
  }, `attempt ${i + 1}: ${a.status}`)));
  const svgBox = h("div", { class: "graph-wrap", id: "graph" });
  if (graph && graph.svg) svgBox.innerHTML = graph.svg;   // built and escaped by the server
  else svgBox.append(h("p", { class: "dim" }, graph && graph.error ? graph.error : "no execution yet"));
  const stateRows = graph && graph.states ? Object.entries(graph.states).sort((a, b) => (a[1].first_entered || "").localeCompare(b[1].first_entered || "")).map(([name, s]) => h("tr", { "data-state": name },
    h("td", {}, name), h("td", {}, s.status.replace("_", " ")), h("td", { class: "num" }, s.entered),
    h("td", { class: "num" }, s.retries), h("td", {}, s.error || ""))) : [];
  const graphCard = section("Execution", tabs, legend,
    h("div", { class: "two" }, svgBox, h("div", {},
      h("table", {}, h("tr", {}, h("th", {}, "state"), h("th", {}, "status"), h("th", { class: "num" }, "entered"),
        h("th", { class: "num" }, "retries"), h("th", {}, "error")), stateRows),
      h("p", { class: "note" }, "Statuses come from the execution history (GetExecutionHistory shape); ",
        "graph from the state machine's ASL definition."))));

  const transitions = section("State transitions", h("table", {},
    h("tr", {}, ["state", "at", "host", "pid", "attempt", "error"].map(x => h("th", {}, x))),
    (job.transitions || []).map(t => h("tr", {}, h("td", {}, badge(t.state)), h("td", { class: "mono" }, t.at),
      h("td", {}, t.host || ""), h("td", {}, t.pid ?? ""), h("td", {}, t.attempt ?? ""), h("td", {}, t.error || "")))));

  const workers = (job.workers || []);
  const workerCard = workers.length ? section("ECS workers", workers.map(w => h("div", {},
    kv([["task", w.task_arn], ["capacity provider", w.capacity_provider], ["log", w.log],
      ["interrupted", w.interrupted ? "yes (Spot reclaim)" : null]]),
    w.log_tail ? h("pre", { class: "log" }, w.log_tail) : h("p", { class: "dim" }, "log not available")))) : null;

  const objs = job.objects || [];
  const io = section("Inputs and outputs",
    h("h3", {}, "Objects touched"),
    objs.length ? h("ul", {}, objs.map(o => h("li", {}, h("code", {}, o.uri), h("span", { class: "dim" }, ` ${o.access}`))))
      : h("p", { class: "dim" }, "none recorded"),
    h("h3", {}, "Event payload"), h("pre", {}, pretty(ev.payload)),
    h("h3", {}, "Output"), h("pre", {}, pretty(job.output)),
    h("details", {}, h("summary", {}, "Execution input"), h("pre", {}, pretty(job.input))),
    (job.produced || []).length ? h("div", {}, h("h3", {}, "Events produced"),
      h("ul", {}, job.produced.map(p => h("li", {}, h("b", {}, p.type), ` ${p.subject} `, h("span", { class: "dim mono" }, p.event_id))))) : null);

  const c = job.cost || {};
  const costCard = c.usd ? section("Cost on AWS (estimated)", h("table", {},
    h("tr", {}, h("th", {}, "service"), h("th", { class: "num" }, "USD")),
    Object.entries(c.usd).filter(([, v]) => v > 0).map(([k, v]) => h("tr", {}, h("td", {}, k), h("td", { class: "num" }, usd(v)))),
    h("tr", {}, h("th", {}, "total"), h("th", { class: "num" }, usd(c.total_usd)))),
  h("p", { class: "note" }, `Lambda ${c.usage.lambda_requests} request(s), ${c.usage.lambda_gb_seconds} GB-s; `,
    `${c.usage.transitions} state transition(s); Fargate ${c.usage.fargate_tasks} task(s); S3 ${c.usage.s3_get} GET, ${c.usage.s3_put} PUT.`)) : null;

  app.replaceChildren(...[head, graphCard, h("div", { class: "two" }, transitions, costCard || h("div")), workerCard, io].filter(Boolean));
}

// ------------------------------------------------------------------- routing
function route() {
  const m = location.hash.match(/^#\/jobs\/(.+)$/);
  return m ? { page: "job", id: decodeURIComponent(m[1]) } : { page: "tree" };
}

async function refresh(first) {
  clearTimeout(timer);
  const r = route();
  try {
    if (r.page === "job") await jobPage(r.id, first);
    else await loadTree();
    const banner = document.getElementById("tree-error");
    if (banner) banner.replaceChildren();
    stamp();
  } catch (e) {
    const banner = document.getElementById("tree-error");
    if (banner) banner.replaceChildren(h("div", { class: "error-banner" }, `cannot reach the monitor: ${e.message}`));
  }
  timer = setTimeout(refresh, POLL_MS);
}

async function start() {
  try {
    const s = await api("/api/status");
    document.getElementById("workspace").textContent = s.workspace;
  } catch (e) { /* shown by refresh */ }
  const r = route();
  if (r.page === "tree") treePage();
  view.attempt = null;
  lastTreeKey = "";
  refresh(true);
}

window.addEventListener("hashchange", start);
start();
