// cloudphot's web query page: a client of the TAP service beside it, nothing more.
// Every value from the server reaches the page through textContent (never innerHTML).
"use strict";

(function () {
  const body = document.body;
  const SURVEY = body.dataset.survey;
  const MAX_ROWS = parseInt(body.dataset.maxRows, 10);
  const SYNC_MAX_ROWS = parseInt(body.dataset.syncMaxRows, 10);
  const AUTH_PREFIX = body.dataset.authPrefix || "";
  const $ = (id) => document.getElementById(id);
  const state = { fields: [], rows: [], page: 0, token: sessionStorage.getItem("cloudphot-token") || "" };
  window.cloudphotQuery = state; // for tests and the curious: the last result, the last download

  // ------------------------------------------------------------------ TAP calls
  function tapBase() {
    return (state.token ? AUTH_PREFIX : "") + "tap/";
  }
  function headers() {
    const h = {};
    if (state.token) h["Authorization"] = "Bearer " + state.token;
    return h;
  }
  async function tapSync(query, lang, maxrec, format) {
    const params = new URLSearchParams({ REQUEST: "doQuery", LANG: lang, QUERY: query, RESPONSEFORMAT: format });
    if (maxrec !== null) params.set("MAXREC", String(maxrec));
    const h = headers();
    h["Content-Type"] = "application/x-www-form-urlencoded";
    return fetch(tapBase() + "sync", { method: "POST", headers: h, body: params, credentials: "same-origin" });
  }
  // the reason of a failed response: the DALI error document's QUERY_STATUS, or the text
  async function failureText(resp) {
    const text = await resp.text();
    const doc = new DOMParser().parseFromString(text, "application/xml");
    for (const info of doc.getElementsByTagNameNS("*", "INFO")) {
      if (info.getAttribute("name") === "QUERY_STATUS" && info.getAttribute("value") === "ERROR") {
        return info.textContent.trim() || "the service refused the query (no reason given)";
      }
    }
    return text.trim().slice(0, 2000) || resp.statusText;
  }
  function parseVotable(text) {
    const doc = new DOMParser().parseFromString(text, "application/xml");
    if (doc.getElementsByTagName("parsererror").length) throw new Error("the service's answer is not a VOTable");
    const fields = [...doc.getElementsByTagNameNS("*", "FIELD")].map((f) => {
      const d = f.getElementsByTagNameNS("*", "DESCRIPTION")[0];
      return {
        name: f.getAttribute("name"),
        unit: f.getAttribute("unit") || "",
        ucd: f.getAttribute("ucd") || "",
        datatype: f.getAttribute("datatype") || "",
        description: d ? d.textContent.trim() : "",
      };
    });
    const rows = [...doc.getElementsByTagNameNS("*", "TR")].map((tr) =>
      [...tr.getElementsByTagNameNS("*", "TD")].map((td) => td.textContent)
    );
    const infos = {};
    for (const info of doc.getElementsByTagNameNS("*", "INFO")) {
      const name = info.getAttribute("name");
      if (name === "QUERY_STATUS") infos.status = info.getAttribute("value"); // OVERFLOW comes last
      else infos[name] = info.getAttribute("value");
    }
    return { fields, rows, infos };
  }

  // ------------------------------------------------------------------ messages
  function showError(title, reason) {
    body.dataset.state = "error";
    const box = $("error");
    box.replaceChildren();
    const t = document.createElement("strong");
    t.textContent = title;
    const r = document.createElement("pre");
    r.className = "reason";
    r.textContent = reason;
    box.append(t, r);
    box.hidden = false;
  }
  function clearMessages() {
    $("error").hidden = true;
    $("notice").hidden = true;
  }
  function notice(text) {
    const n = $("notice");
    n.textContent = text;
    n.hidden = false;
  }
  function setStatus(text) {
    $("status").textContent = text;
  }

  // ------------------------------------------------------------------ results
  function requestedRows() {
    const raw = $("maxrec").value.trim();
    let n = raw === "" ? MAX_ROWS : Number(raw);
    if (!Number.isFinite(n) || n < 0 || Math.floor(n) !== n) {
      throw new Error(`rows shown at most: ${JSON.stringify(raw)} is not a whole number of 0 or more`);
    }
    if (n > MAX_ROWS) {
      $("maxrec").value = String(MAX_ROWS);
      notice(`the page shows at most ${MAX_ROWS} rows; download the result for up to ${SYNC_MAX_ROWS} (the synchronous limit), or run it as an async job (with a token: Account)`);
      n = MAX_ROWS;
    }
    return n;
  }
  async function run() {
    clearMessages();
    const query = $("query").value;
    const lang = $("lang").value;
    if (!query.trim()) {
      showError("Nothing to run", "type an ADQL or SQL query first");
      return;
    }
    let maxrec;
    try {
      maxrec = requestedRows();
    } catch (e) {
      showError("Refused", e.message);
      return;
    }
    setStatus("running…");
    body.dataset.state = "running";
    const t0 = performance.now();
    let resp;
    try {
      resp = await tapSync(query, lang, maxrec, "votable/td");
    } catch (e) {
      body.dataset.state = "error";
      setStatus("");
      showError("The service did not answer", String(e));
      return;
    }
    if (!resp.ok) {
      const reason = await failureText(resp);
      body.dataset.state = "error";
      setStatus(`HTTP ${resp.status}`);
      showError(`The query was refused (HTTP ${resp.status})`, reason);
      renderTable({ fields: [], rows: [] });
      return;
    }
    let result;
    try {
      result = parseVotable(await resp.text());
    } catch (e) {
      body.dataset.state = "error";
      showError("Unreadable answer", e.message);
      return;
    }
    const secs = ((performance.now() - t0) / 1000).toFixed(2);
    const note = resp.headers.get("X-Query-Note") || result.infos.WARNING;
    const overflow = result.infos.status === "OVERFLOW" || resp.headers.get("X-Query-Status") === "OVERFLOW";
    let msg = `${result.rows.length} row${result.rows.length === 1 ? "" : "s"} in ${secs} s`;
    if (result.infos.CATALOG_VERSION) msg += ` (catalog version ${result.infos.CATALOG_VERSION})`;
    setStatus(msg);
    if (overflow) {
      notice(note || `more rows match: the result stops at ${result.rows.length} rows (raise "rows shown at most", or download)`);
    } else if (note) {
      notice(note);
    }
    state.overflow = overflow;
    if (note && note.includes("stored as mydb.")) loadMine();
    body.dataset.state = "done";
    renderTable(result);
  }
  function renderTable(result) {
    state.fields = result.fields;
    state.rows = result.rows;
    state.page = 0;
    renderPage();
  }
  function pageSize() {
    return parseInt($("page-size").value, 10) || 50;
  }
  function renderPage() {
    const table = $("result-table");
    table.replaceChildren();
    const pager = document.querySelector(".pager");
    if (!state.fields.length) {
      pager.hidden = true;
      return;
    }
    const thead = table.createTHead();
    const hr = thead.insertRow();
    const objidCol = state.fields.findIndex((f) => f.name.toLowerCase() === "objid");
    for (const f of state.fields) {
      const th = document.createElement("th");
      th.textContent = f.name;
      if (f.unit) {
        const u = document.createElement("span");
        u.className = "unit";
        u.textContent = `[${f.unit}]`;
        th.append(" ", u);
      }
      th.title = [f.description, f.ucd && `UCD ${f.ucd}`, f.datatype].filter(Boolean).join("\n");
      hr.append(th);
    }
    const size = pageSize();
    const pages = Math.max(1, Math.ceil(state.rows.length / size));
    state.page = Math.min(Math.max(0, state.page), pages - 1);
    const start = state.page * size;
    const tbody = table.createTBody();
    for (const row of state.rows.slice(start, start + size)) {
      const tr = tbody.insertRow();
      row.forEach((value, i) => {
        const td = tr.insertCell();
        if (i === objidCol && value) {
          const a = document.createElement("a");
          a.href = "#";
          a.className = "objid";
          a.textContent = value;
          a.title = "light curve of this object";
          a.addEventListener("click", (ev) => {
            ev.preventDefault();
            $("lc-objid").value = value;
            lightCurve();
          });
          td.append(a);
        } else {
          td.textContent = value;
        }
      });
    }
    pager.hidden = false;
    const end = Math.min(start + size, state.rows.length);
    $("page-info").textContent = state.rows.length
      ? `rows ${start + 1}–${end} of ${state.rows.length}${state.overflow ? "+" : ""} (page ${state.page + 1} of ${pages})`
      : "no rows";
    $("prev").disabled = state.page === 0;
    $("next").disabled = state.page >= pages - 1;
  }

  // ------------------------------------------------------------------ downloads
  const EXT = { votable: "vot", csv: "csv", fits: "fits", parquet: "parquet" };
  async function download(format) {
    clearMessages();
    const query = $("query").value;
    if (!query.trim()) {
      showError("Nothing to download", "type an ADQL or SQL query first");
      return;
    }
    setStatus(`preparing ${format}…`);
    let resp;
    try {
      // a download is not bounded by the page: the service's synchronous limit applies
      resp = await tapSync(query, $("lang").value, SYNC_MAX_ROWS, format);
    } catch (e) {
      showError("The service did not answer", String(e));
      return;
    }
    if (!resp.ok) {
      setStatus(`HTTP ${resp.status}`);
      showError(`The download was refused (HTTP ${resp.status})`, await failureText(resp));
      return;
    }
    saveBlob(await resp.blob(), `${SURVEY}-result.${EXT[format]}`, resp);
    if (resp.headers.get("X-Query-Status") === "OVERFLOW") {
      notice(resp.headers.get("X-Query-Note") || `the download stops at ${SYNC_MAX_ROWS} rows, the synchronous limit: run the query as an async job for more`);
    }
  }
  function saveBlob(blob, name, resp) {
    state.lastDownload = { name, bytes: blob.size, type: blob.type, status: resp.headers.get("X-Query-Status") };
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 60000);
    setStatus(`downloaded ${name} (${blob.size} bytes)`);
  }

  // ------------------------------------------------------------------ helpers
  function number(id, label, lo, hi) {
    const raw = $(id).value.trim();
    const v = Number(raw);
    if (raw === "" || !Number.isFinite(v)) throw new Error(`${label}: ${JSON.stringify(raw)} is not a number`);
    if (v < lo || v > hi) throw new Error(`${label}: ${v} is outside ${lo}..${hi}`);
    return v;
  }
  function cone() {
    clearMessages();
    let ra, dec, r;
    try {
      ra = number("cone-ra", "RA", 0, 360);
      dec = number("cone-dec", "Dec", -90, 90);
      r = number("cone-radius", "radius", 0, 3600);
    } catch (e) {
      showError("Cone search not run", e.message);
      return;
    }
    const table = $("cone-table").value;
    $("lang").value = "ADQL";
    $("query").value =
      `SELECT * FROM ${SURVEY}.${table}\n` +
      `WHERE CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', ${ra}, ${dec}, ${r}/3600.)) = 1`;
    run();
  }
  function lightCurve() {
    clearMessages();
    const raw = $("lc-objid").value.trim();
    if (!/^[0-9]{1,20}$/.test(raw)) {
      showError("Light curve not run", `objid: ${JSON.stringify(raw)} is not an object id (a whole number)`);
      return;
    }
    const filt = $("lc-filter").value.trim();
    if (filt && !/^[A-Za-z0-9_]{1,16}$/.test(filt)) {
      showError("Light curve not run", `filter: ${JSON.stringify(filt)} is not a filter name (e.g. F475W)`);
      return;
    }
    $("lang").value = "ADQL";
    $("query").value =
      `SELECT objid, mjd, filter, vega, err, snr, flag, visit_id, exposure_id FROM ${SURVEY}.phot_meas\n` +
      `WHERE objid = ${raw}${filt ? ` AND filter = '${filt.toUpperCase()}'` : ""}\nORDER BY filter, mjd`;
    run();
  }

  // ------------------------------------------------------------------ schema browser
  async function rowsOf(query) {
    const resp = await tapSync(query, "ADQL", null, "votable/td");
    if (!resp.ok) throw new Error(await failureText(resp));
    const r = parseVotable(await resp.text());
    const idx = Object.fromEntries(r.fields.map((f, i) => [f.name, i]));
    return r.rows.map((row) => Object.fromEntries(Object.keys(idx).map((k) => [k, row[idx[k]]])));
  }
  async function loadSchema() {
    const tree = $("schema-tree");
    try {
      const [schemas, tables, columns] = await Promise.all([
        rowsOf("SELECT schema_name, description, schema_index FROM TAP_SCHEMA.schemas ORDER BY schema_index"),
        rowsOf("SELECT schema_name, table_name, description, table_index FROM TAP_SCHEMA.tables ORDER BY table_index"),
        rowsOf(
          'SELECT table_name, column_name, datatype, unit, ucd, description, column_index FROM TAP_SCHEMA.columns ORDER BY table_name, column_index'
        ),
      ]);
      tree.replaceChildren();
      for (const s of schemas) {
        const sd = document.createElement("details");
        sd.className = "schema";
        sd.open = s.schema_name === SURVEY;
        const ss = document.createElement("summary");
        ss.textContent = s.schema_name;
        ss.title = s.description;
        sd.append(ss);
        for (const t of tables.filter((t) => t.schema_name === s.schema_name)) {
          const td = document.createElement("details");
          td.className = "table";
          td.dataset.table = t.table_name;
          const ts = document.createElement("summary");
          const name = document.createElement("span");
          name.textContent = t.table_name.split(".").pop();
          const use = document.createElement("button");
          use.type = "button";
          use.className = "use";
          use.textContent = "query";
          use.title = `SELECT TOP 10 * FROM ${t.table_name}`;
          use.addEventListener("click", (ev) => {
            ev.preventDefault();
            $("lang").value = "ADQL";
            $("query").value = `SELECT TOP 10 * FROM ${t.table_name}`;
          });
          ts.append(name, " ", use);
          const desc = document.createElement("p");
          desc.className = "desc";
          desc.textContent = t.description;
          const cols = document.createElement("table");
          cols.className = "columns";
          const h = cols.createTHead().insertRow();
          for (const label of ["column", "unit", "UCD", "type", "description"]) {
            const th = document.createElement("th");
            th.textContent = label;
            h.append(th);
          }
          const cb = cols.createTBody();
          for (const c of columns.filter((c) => c.table_name === t.table_name)) {
            const tr = cb.insertRow();
            tr.dataset.column = c.column_name;
            for (const v of [c.column_name, c.unit, c.ucd, c.datatype, c.description]) tr.insertCell().textContent = v;
          }
          td.append(ts, desc, cols);
          sd.append(td);
        }
        tree.append(sd);
      }
      tree.dataset.loaded = "true";
      filterSchema();
    } catch (e) {
      tree.textContent = `TAP_SCHEMA could not be read: ${e.message}`;
      tree.dataset.loaded = "error";
    }
  }
  function filterSchema() {
    const words = $("schema-filter").value.trim().toLowerCase();
    for (const t of document.querySelectorAll("#schema-tree details.table")) {
      let any = !words || t.dataset.table.toLowerCase().includes(words);
      for (const tr of t.querySelectorAll("tbody tr")) {
        const hit = !words || tr.textContent.toLowerCase().includes(words);
        tr.hidden = !hit && !t.dataset.table.toLowerCase().includes(words);
        any = any || hit;
      }
      t.hidden = !any;
      if (words && any) t.open = true;
    }
  }

  // ------------------------------------------------------------------ account
  async function loadMine() {
    const mine = $("mine");
    if (!state.token) {
      mine.hidden = true;
      $("account-state").textContent = "anonymous: queries only";
      return;
    }
    mine.hidden = false;
    $("account-state").textContent = "token set: checking…";
    const jobs = $("jobs");
    const tables = $("mytables");
    try {
      const resp = await fetch(tapBase() + "async", { headers: headers() });
      if (!resp.ok) throw new Error(`HTTP ${resp.status}: ${await failureText(resp)}`);
      const doc = new DOMParser().parseFromString(await resp.text(), "application/xml");
      jobs.replaceChildren();
      for (const ref of doc.getElementsByTagNameNS("*", "jobref")) {
        const li = document.createElement("li");
        const phase = ref.getElementsByTagNameNS("*", "phase")[0];
        const created = ref.getElementsByTagNameNS("*", "creationTime")[0];
        const id = ref.getAttribute("id");
        li.dataset.job = id;
        li.textContent = `${id} ${phase ? phase.textContent : "?"} ${created ? created.textContent : ""} `;
        if (phase && phase.textContent === "COMPLETED") {
          const b = document.createElement("button");
          b.type = "button";
          b.textContent = "result";
          b.addEventListener("click", () => jobResult(id));
          li.append(b);
        }
        jobs.append(li);
      }
      if (!jobs.children.length) jobs.textContent = "no jobs";
      const tr = await fetch(tapBase() + "mydb?RESPONSEFORMAT=votable/td", { headers: headers() });
      if (!tr.ok) throw new Error(`HTTP ${tr.status}: ${await failureText(tr)}`);
      const listing = parseVotable(await tr.text());
      tables.replaceChildren();
      for (const row of listing.rows) {
        const li = document.createElement("li");
        const a = document.createElement("a");
        a.href = "#";
        a.textContent = `mydb.${row[0]}`;
        a.addEventListener("click", (ev) => {
          ev.preventDefault();
          $("lang").value = "ADQL";
          $("query").value = `SELECT TOP 100 * FROM mydb.${row[0]}`;
        });
        li.append(a, ` ${row[1]} rows, ${row[2]} columns`);
        tables.append(li);
      }
      if (!tables.children.length) tables.textContent = "no personal tables (store one with SELECT ... INTO mydb.name)";
      $("account-state").textContent = "token accepted";
      $("account").dataset.state = "ok";
    } catch (e) {
      $("account-state").textContent = `token refused or service error: ${e.message}`;
      $("account").dataset.state = "error";
    }
  }
  async function jobResult(id) {
    // a job's result is in the format it asked for: it is downloaded, not shown
    const resp = await fetch(`${tapBase()}async/${encodeURIComponent(id)}/results/result`, { headers: headers() });
    if (!resp.ok) {
      showError(`The result of job ${id} could not be read (HTTP ${resp.status})`, await failureText(resp));
      return;
    }
    saveBlob(await resp.blob(), `${SURVEY}-job-${id}.${extensionOf(resp.headers.get("Content-Type") || "")}`, resp);
  }
  function extensionOf(ctype) {
    if (ctype.includes("csv")) return "csv";
    if (ctype.includes("fits")) return "fits";
    if (ctype.includes("parquet")) return "parquet";
    return "vot";
  }

  async function submitAsync() {
    clearMessages();
    const query = $("query").value;
    if (!query.trim()) {
      showError("Nothing to submit", "type an ADQL or SQL query first");
      return;
    }
    const h = headers();
    h["Content-Type"] = "application/x-www-form-urlencoded";
    const params = new URLSearchParams({ REQUEST: "doQuery", LANG: $("lang").value, QUERY: query, PHASE: "RUN" });
    let resp;
    try {
      resp = await fetch(tapBase() + "async", { method: "POST", headers: h, body: params, redirect: "manual" });
    } catch (e) {
      showError("The service did not answer", String(e));
      return;
    }
    // a created job answers 303 See Other (opaque to fetch with redirect: manual)
    if (!(resp.type === "opaqueredirect" || resp.ok)) {
      showError(`The job was refused (HTTP ${resp.status})`, await failureText(resp));
      return;
    }
    setStatus("async job submitted: see My async jobs");
    for (let i = 0; i < 60; i++) {
      await loadMine();
      const running = [...document.querySelectorAll("#jobs li")].some((li) => /\b(PENDING|QUEUED|EXECUTING)\b/.test(li.textContent));
      if (!running) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  // ------------------------------------------------------------------ wiring
  $("query-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    run();
  });
  $("query").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      run();
    }
  });
  for (const b of document.querySelectorAll("button.example")) {
    b.addEventListener("click", () => {
      $("lang").value = b.dataset.lang;
      $("query").value = b.dataset.query;
      run();
    });
  }
  for (const b of document.querySelectorAll("button.download")) {
    b.addEventListener("click", () => download(b.dataset.format));
  }
  $("cone-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    cone();
  });
  $("lc-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    lightCurve();
  });
  $("prev").addEventListener("click", () => {
    state.page -= 1;
    renderPage();
  });
  $("next").addEventListener("click", () => {
    state.page += 1;
    renderPage();
  });
  $("page-size").addEventListener("change", () => {
    state.page = 0;
    renderPage();
  });
  $("schema-filter").addEventListener("input", filterSchema);
  $("token-save").addEventListener("click", () => {
    state.token = $("token").value.trim();
    if (state.token) sessionStorage.setItem("cloudphot-token", state.token);
    loadMine();
  });
  $("token-clear").addEventListener("click", () => {
    state.token = "";
    $("token").value = "";
    sessionStorage.removeItem("cloudphot-token");
    loadMine();
  });
  $("jobs-refresh").addEventListener("click", loadMine);
  $("submit-async").addEventListener("click", submitAsync);
  loadSchema();
  loadMine();
})();
