// The live view and the HTML report: one script, two sources of data.
//
// Live (served at {prefix}/ui): the journal through the admin API, pages fetched with
// GET requests?before_seq=&limit= (never the whole journal), new entries through an EventSource
// on GET requests/stream. The feed opens first; its `ready` event names the seq it follows from,
// and the first page is fetched from just below it: nothing is lost or shown twice between the
// page and the feed. Report (a file): the same views over the entries embedded in the page.
// Every value from the journal reaches the page through textContent, never as HTML.
"use strict";
(() => {
  const DATA = JSON.parse(document.getElementById("mockserver-data").textContent);
  const LIVE = DATA.mode === "live";
  const PAGE = 100;
  const KEEP = 1000; // live rows kept; older ones come back through "Load older requests"
  const UI_HEADER = "X-Mockserver-UI"; // with the cookie, writes need it: a form cannot send it

  const $ = (id) => document.getElementById(id);

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = String(value);
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function nodes(...children) {
    return children.flat(Infinity).filter((child) => child !== null && child !== undefined && child !== false);
  }

  const state = {
    namespace: "", // "" is the default namespace
    entries: [], // newest first
    bySeq: new Map(),
    selected: null,
    more: false,
    source: null,
    generation: 0,
    tab: "requests",
  };

  function setStatus(text) {
    $("status").textContent = text;
  }

  function filters() {
    return {
      service: $("f-service").value.trim(),
      method: $("f-method").value,
      path: $("f-path").value.trim(),
      matched: $("f-matched").value,
    };
  }

  function filterQuery(extra) {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries({ ...filters(), ...(extra || {}) })) {
      if (value !== "" && value !== null && value !== undefined) query.set(name, String(value));
    }
    return query.toString();
  }

  // --- the admin API (live) ------------------------------------------------------------------

  const prefix = LIVE ? DATA.prefix : "";

  function base(namespace) {
    return prefix + (namespace ? "/ns/" + encodeURIComponent(namespace) : "");
  }

  async function call(method, path, options) {
    const { namespace, body, scoped = true } = options || {};
    const headers = { Accept: "application/json", [UI_HEADER]: "1" };
    const init = { method, headers, credentials: "same-origin", cache: "no-store" };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      headers["Content-Type"] = "application/json";
    }
    const url = (scoped ? base(namespace === undefined ? state.namespace : namespace) : prefix) + path;
    const response = await fetch(url, init);
    if (response.status === 401) {
      await signIn();
      return call(method, path, options);
    }
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      throw new Error((data && data.error) || `${method} ${path}: ${response.status}`);
    }
    return data;
  }

  let signingIn = null;

  function signIn() {
    if (signingIn) return signingIn;
    signingIn = new Promise((resolve) => {
      const dialog = $("token-dialog");
      const input = $("token-input");
      const error = $("token-error");
      error.textContent = "";
      setStatus("waiting for the admin token");
      $("token-form").onsubmit = async (event) => {
        event.preventDefault();
        const response = await fetch(prefix + "/ui/session", {
          method: "POST",
          headers: { "Content-Type": "application/json", [UI_HEADER]: "1" },
          body: JSON.stringify({ token: input.value }),
          credentials: "same-origin",
        });
        if (response.ok) {
          input.value = "";
          dialog.close();
          signingIn = null;
          $("sign-out").hidden = false;
          resolve();
        } else {
          const data = await response.json().catch(() => ({}));
          error.textContent = data.error || `refused (${response.status})`;
          input.select();
        }
      };
      dialog.addEventListener("cancel", (event) => event.preventDefault());
      dialog.showModal();
      input.focus();
    });
    return signingIn;
  }

  async function signOut() {
    await fetch(prefix + "/ui/session", {
      method: "DELETE",
      headers: { [UI_HEADER]: "1" },
      credentials: "same-origin",
    });
    $("sign-out").hidden = true;
    closeFeed();
    await start();
  }

  // --- the journal: pages and the live feed ----------------------------------------------------

  function reportNamespace() {
    return DATA.namespaces.find((each) => (each.name || "") === state.namespace) || {
      entries: [],
      stubs: null,
      scenarios: null,
    };
  }

  function passes(entry, wanted) {
    return (
      (!wanted.service || entry.service === wanted.service) &&
      (!wanted.method || entry.method === wanted.method) &&
      (!wanted.path || entry.path === wanted.path) &&
      (!wanted.matched || String(entry.matched) === wanted.matched)
    );
  }

  async function page(beforeSeq) {
    if (LIVE) {
      const data = await call("GET", "/requests?" + filterQuery({ before_seq: beforeSeq, limit: PAGE }));
      return { entries: data.requests.reverse(), more: data.total > data.requests.length };
    }
    const wanted = filters();
    const selected = [];
    const entries = reportNamespace().entries;
    for (let index = entries.length - 1; index >= 0 && selected.length <= PAGE; index--) {
      const entry = entries[index];
      if ((beforeSeq === null || entry.seq < beforeSeq) && passes(entry, wanted)) selected.push(entry);
    }
    return { entries: selected.slice(0, PAGE), more: selected.length > PAGE };
  }

  function oldestSeq() {
    return state.entries.length ? state.entries[state.entries.length - 1].seq : null;
  }

  async function loadOlder(beforeSeq, generation) {
    const result = await page(beforeSeq);
    if (generation !== state.generation) return; // the filters changed meanwhile
    const rows = [];
    for (const entry of result.entries) {
      if (state.bySeq.has(entry.seq)) continue;
      state.entries.push(entry);
      state.bySeq.set(entry.seq, entry);
      rows.push(row(entry));
    }
    $("entries").tBodies[0].append(...rows);
    state.more = result.more;
    renderCounts();
  }

  function keepOneRowInTabOrder() {
    const body = $("entries").tBodies[0];
    const first = body.querySelector("button.open");
    if (first && !body.querySelector("button.open[tabindex='0']")) first.tabIndex = 0;
  }

  function addLive(entry) {
    if (state.bySeq.has(entry.seq)) return;
    state.entries.unshift(entry);
    state.bySeq.set(entry.seq, entry);
    const body = $("entries").tBodies[0];
    body.prepend(row(entry));
    while (state.entries.length > KEEP) {
      const gone = state.entries.pop();
      state.bySeq.delete(gone.seq);
      body.lastElementChild.remove();
      state.more = true;
    }
    renderCounts();
  }

  function closeFeed() {
    if (state.source) state.source.close();
    state.source = null;
  }

  function clearEntries() {
    state.generation += 1;
    state.entries = [];
    state.bySeq = new Map();
    state.more = false;
    $("entries").tBodies[0].replaceChildren();
    renderCounts();
  }

  function follow() {
    closeFeed();
    clearEntries();
    const generation = state.generation;
    if (!LIVE) {
      loadOlder(null, generation);
      return;
    }
    const source = new EventSource(base(state.namespace) + "/requests/stream?" + filterQuery(), {
      withCredentials: true,
    });
    state.source = source;
    let first = true;
    let lastSeen = 0;
    source.addEventListener("ready", (event) => {
      setStatus("live: following new requests");
      const after = JSON.parse(event.data).after_seq;
      if (!first) {
        // a reconnect: Last-Event-ID resumed the feed where it was, unless the server
        // restarted (its journal numbers from 1 again): then start afresh
        if (after < lastSeen) follow();
        return;
      }
      first = false;
      lastSeen = after; // the first page holds up to it, even when no entry comes live
      loadOlder(after + 1, generation).catch(showError);
    });
    source.onmessage = (event) => {
      if (generation !== state.generation) return;
      const entry = JSON.parse(event.data);
      lastSeen = Math.max(lastSeen, entry.seq);
      addLive(entry);
    };
    source.onerror = () => {
      if (source.readyState !== EventSource.CLOSED) {
        setStatus("reconnecting…");
        return;
      }
      // refused (a token that no longer holds, say): ask through the API, then follow again
      setStatus("disconnected");
      if (state.source === source) {
        state.source = null;
        call("GET", "/requests?limit=0").then(follow, showError);
      }
    };
  }

  function renderCounts() {
    keepOneRowInTabOrder();
    $("entries-empty").hidden = state.entries.length > 0;
    $("older").hidden = !state.more;
    if (!LIVE) setStatus(`${state.entries.length} request(s) shown, written ${DATA.generated}`);
  }

  // --- the list and one entry --------------------------------------------------------------------

  function time(entry) {
    return entry.time ? entry.time.slice(11, 23) : "";
  }

  function row(entry) {
    const open = el("button", {
      type: "button",
      class: "open",
      tabindex: -1,
      "aria-label": `Open request ${entry.seq}: ${entry.method} ${entry.path}, ${entry.status ?? "no status"}`,
      text: `#${entry.seq}`,
    });
    const stub = entry.matched
      ? entry.stub_id
      : el("span", { class: "badge bad", text: "unmatched" });
    const tr = el(
      "tr",
      { class: entry.matched ? "matched" : "unmatched", "data-seq": entry.seq },
      el("td", {}, open),
      el("td", { text: time(entry) }),
      el("td", { text: entry.method }),
      el("td", { class: "path", text: entry.path + queryText(entry.query) }),
      el("td", { class: "status", text: entry.status ?? entry.fault ?? "" }),
      el("td", {}, stub),
    );
    if (entry.seq === state.selected) tr.setAttribute("aria-current", "true");
    return tr;
  }

  function queryText(query) {
    const parts = [];
    for (const [name, values] of Object.entries(query || {})) {
      for (const value of values) parts.push(`${encodeURIComponent(name)}=${encodeURIComponent(value)}`);
    }
    return parts.length ? "?" + parts.join("&") : "";
  }

  function openEntry(seq) {
    const entry = state.bySeq.get(seq);
    if (!entry) return;
    state.selected = seq;
    for (const tr of $("entries").tBodies[0].rows) {
      if (Number(tr.dataset.seq) === seq) tr.setAttribute("aria-current", "true");
      else tr.removeAttribute("aria-current");
    }
    renderEntry(entry);
  }

  function kvTable(label, mapping) {
    const rows = [];
    for (const [name, value] of Object.entries(mapping || {})) {
      for (const each of Array.isArray(value) ? value : [value]) {
        rows.push(el("tr", {}, el("td", { text: name }), el("td", { text: each })));
      }
    }
    if (!rows.length) return null;
    return [el("h3", { text: label }), el("table", { class: "kv", "aria-label": label }, el("tbody", {}, rows))];
  }

  function shown(value) {
    if (value === null || value === undefined) return "(absent)";
    return typeof value === "string" ? JSON.stringify(value) : JSON.stringify(value, null, 2);
  }

  function nearMisses(entry) {
    const misses = entry.near_misses || [];
    if (entry.matched) return null;
    if (!misses.length) return [el("h3", { text: "Near misses" }), el("p", { class: "muted", text: "No stub came close." })];
    const head = el(
      "tr",
      {},
      ["Stub", "Field", "Expected", "Actual"].map((name) => el("th", { scope: "col", text: name })),
    );
    const rows = misses.map((miss) =>
      el(
        "tr",
        {},
        el(
          "td",
          {},
          el("span", { class: "stub", text: miss.stub_id ?? `#${miss.request_seq}` }),
          miss.source ? el("span", { class: "source", text: miss.source }) : null,
        ),
        el("td", { text: miss.field }),
        el("td", { class: "expected", text: miss.expected }),
        el("td", { class: "actual", text: shown(miss.actual) }),
      ),
    );
    return [
      el("h3", { text: "Near misses" }),
      el("table", { class: "miss", "aria-label": "Near misses" }, el("thead", {}, head), el("tbody", {}, rows)),
    ];
  }

  function bodyBlock(entry) {
    if (!entry.body) return [el("h3", { text: "Body" }), el("p", { class: "muted", text: "(empty)" })];
    let text = entry.body;
    let label = "Body";
    if (entry.json !== null && entry.json !== undefined) {
      text = JSON.stringify(entry.json, null, 2);
      label = "Body (JSON)";
    } else if (entry.body_encoding === "base64") {
      label = "Body (base64: not UTF-8 text)";
    }
    return [el("h3", { text: label }), el("pre", { tabindex: 0, "aria-label": label, text })];
  }

  function renderEntry(entry) {
    const detail = $("detail");
    const facts = [
      ["Time", entry.time],
      ["Namespace", entry.namespace ?? "(default)"],
      ["Service", entry.service ?? "—"],
      ["Stub", entry.stub_id ?? "none"],
      ["Status", entry.status ?? "none"],
      ["Duration", `${entry.duration_ms} ms`],
      ["Error", entry.error],
      ["Fault", entry.fault],
    ].filter(([, value]) => value !== undefined && value !== null);
    detail.replaceChildren(
      ...nodes(
      el("h2", { text: `#${entry.seq} ${entry.method} ${entry.path}` }),
      el(
        "dl",
        { class: "facts" },
        facts.map(([name, value]) => [el("dt", { text: name }), el("dd", { text: value })]),
      ),
      nearMisses(entry),
      kvTable("Query", entry.query),
      kvTable("Headers", entry.headers),
      kvTable("Form", entry.form),
      bodyBlock(entry),
      ),
    );
    detail.focus({ preventScroll: true });
  }

  function onListKey(event) {
    const buttons = [...$("entries").tBodies[0].querySelectorAll("button.open")];
    const at = buttons.indexOf(document.activeElement);
    if (at < 0) return;
    const moves = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: buttons.length - 1 };
    if (!(event.key in moves)) return;
    event.preventDefault();
    const next = buttons[Math.max(0, Math.min(buttons.length - 1, moves[event.key]))];
    focusRow(next, buttons);
  }

  function focusRow(button, buttons) {
    for (const each of buttons) each.tabIndex = -1;
    button.tabIndex = 0;
    button.focus();
  }

  function onListClick(event) {
    const tr = event.target.closest("tr[data-seq]");
    if (!tr) return;
    const button = tr.querySelector("button.open");
    focusRow(button, [...$("entries").tBodies[0].querySelectorAll("button.open")]);
    openEntry(Number(tr.dataset.seq));
  }

  // --- stubs, scenarios, namespaces, clock -------------------------------------------------------

  function table(label, columns, rows) {
    return el(
      "table",
      { "aria-label": label },
      el("thead", {}, el("tr", {}, columns.map((name) => el("th", { scope: "col", text: name })))),
      el("tbody", {}, rows),
    );
  }

  function requestSummary(stub) {
    const request = stub.request || {};
    const method = Array.isArray(request.method) ? request.method.join("|") : request.method || "*";
    const path = typeof request.path === "string" ? request.path : request.path ? JSON.stringify(request.path) : "*";
    return `${method} ${(stub.base_path || "") + path}`;
  }

  async function renderStubs() {
    const view = $("view-stubs");
    const stubs = LIVE ? (await call("GET", "/stubs")).stubs : reportNamespace().stubs;
    if (!stubs) {
      view.replaceChildren(el("p", { class: "muted", text: "The report does not hold the stubs." }));
      return;
    }
    const never = stubs.filter((stub) => !stub.hits).length;
    view.replaceChildren(
      el("h2", { text: `Stubs (${stubs.length}, ${never} never hit)` }),
      table(
        "Stubs",
        ["Id", "Request", "Service", "Source", "Hits"],
        stubs.map((stub) =>
          el(
            "tr",
            {},
            el("td", { text: stub.id }),
            el("td", { class: "path", text: requestSummary(stub) }),
            el("td", { text: stub.service ?? "" }),
            el("td", { text: stub.source }),
            el("td", {}, stub.hits ? String(stub.hits) : el("span", { class: "badge bad", text: "never hit" })),
          ),
        ),
      ),
    );
  }

  async function renderScenarios() {
    const view = $("view-scenarios");
    const scenarios = LIVE ? (await call("GET", "/scenarios")).scenarios : reportNamespace().scenarios;
    if (!scenarios) {
      view.replaceChildren(el("p", { class: "muted", text: "The report does not hold scenario states." }));
      return;
    }
    const names = Object.keys(scenarios);
    const rows = names.map((name) => {
      const cells = [el("td", { text: name }), el("td", { text: scenarios[name] })];
      if (LIVE) {
        const input = el("input", { type: "text", "aria-label": `New state of ${name}`, value: scenarios[name] });
        const set = el("button", {
          type: "button",
          text: "Set",
          "aria-label": `Set the state of ${name}`,
          onclick: () =>
            call("PUT", "/scenarios/" + encodeURIComponent(name), { body: { state: input.value } })
              .then(renderScenarios, showError),
        });
        cells.push(el("td", {}, input, " ", set));
      }
      return el("tr", {}, cells);
    });
    view.replaceChildren(
      el("h2", { text: `Scenarios (${names.length})` }),
      names.length
        ? table("Scenarios", LIVE ? ["Scenario", "State", "Move to"] : ["Scenario", "State"], rows)
        : el("p", { class: "muted", text: "No stub uses a scenario." }),
    );
  }

  async function namespaceList() {
    if (!LIVE) {
      return DATA.namespaces.map((each) => ({
        name: each.name,
        label: each.label,
        requests: each.entries.length,
        stubs: each.stubs ? each.stubs.length : null,
      }));
    }
    const data = await call("GET", "/namespaces", { scoped: false });
    return [{ name: null }, ...data.namespaces];
  }

  async function refreshNamespaces() {
    const select = $("f-namespace");
    const listed = await namespaceList();
    const options = listed.map((each) =>
      el("option", { value: each.name || "", text: each.label || each.name || "(default)" }),
    );
    if (LIVE && !listed.some((each) => (each.name || "") === "")) options.unshift(el("option", { value: "", text: "(default)" }));
    if (!listed.some((each) => (each.name || "") === state.namespace)) {
      options.push(el("option", { value: state.namespace, text: state.namespace }));
    }
    select.replaceChildren(...options);
    select.value = state.namespace;
    return listed;
  }

  async function renderNamespaces() {
    const listed = await refreshNamespaces();
    const rows = listed.map((each) =>
      el(
        "tr",
        {},
        el(
          "td",
          {},
          el("button", {
            type: "button",
            text: each.label || each.name || "(default)",
            "aria-label": `Show namespace ${each.name || "(default)"}`,
            onclick: () => chooseNamespace(each.name || ""),
          }),
        ),
        el("td", { text: each.requests ?? "" }),
        el("td", { text: each.stubs ?? "" }),
      ),
    );
    $("view-namespaces").replaceChildren(
      el("h2", { text: "Namespaces" }),
      table("Namespaces", ["Namespace", "Requests", "Stubs"], rows),
    );
  }

  async function renderClock() {
    const view = $("view-clock");
    if (!LIVE) {
      view.replaceChildren(el("p", { class: "muted", text: "A report has no clock: it shows what was recorded." }));
      return;
    }
    const clock = await call("GET", "/clock");
    const freezeAt = el("input", { type: "text", id: "clock-freeze", value: clock.now });
    const advanceBy = el("input", { type: "number", id: "clock-advance", value: 1000 });
    const act = (method, path, body) => () => call(method, path, { body }).then(renderClock, showError);
    view.replaceChildren(
      el("h2", { text: "Clock" }),
      el(
        "dl",
        { class: "facts" },
        el("dt", { text: "Mode" }), el("dd", { text: clock.mode }),
        el("dt", { text: "Now" }), el("dd", { text: clock.now }),
        el("dt", { text: "Frozen at" }), el("dd", { text: clock.frozen ?? "—" }),
        el("dt", { text: "Offset" }), el("dd", { text: `${clock.offset_ms} ms` }),
      ),
      el(
        "div",
        { class: "row-actions" },
        el("label", { for: "clock-freeze" }, "Freeze at (RFC 3339)", freezeAt),
        el("button", { type: "button", text: "Freeze", onclick: () => act("PUT", "/clock", { frozen: freezeAt.value })() }),
      ),
      el(
        "div",
        { class: "row-actions" },
        el("label", { for: "clock-advance" }, "Advance by (ms)", advanceBy),
        el("button", { type: "button", text: "Advance", onclick: () => act("POST", "/clock/advance", { ms: Number(advanceBy.value) })() }),
        el("button", { type: "button", text: "Back to real time", onclick: act("DELETE", "/clock") }),
      ),
    );
  }

  const RENDER = {
    requests: async () => {},
    stubs: renderStubs,
    scenarios: renderScenarios,
    namespaces: renderNamespaces,
    clock: renderClock,
  };

  function showError(error) {
    setStatus(`error: ${error.message || error}`);
  }

  // --- tabs, filters, actions ----------------------------------------------------------------

  function selectTab(name, focus) {
    state.tab = name;
    for (const tab of $("tabs").querySelectorAll("[role=tab]")) {
      const chosen = tab.id === `tab-${name}`;
      tab.setAttribute("aria-selected", String(chosen));
      tab.tabIndex = chosen ? 0 : -1;
      $(tab.getAttribute("aria-controls")).hidden = !chosen;
      if (chosen && focus) tab.focus();
    }
    RENDER[name]().catch(showError);
  }

  function onTabKey(event) {
    const tabs = [...$("tabs").querySelectorAll("[role=tab]:not([hidden])")];
    const at = tabs.indexOf(document.activeElement);
    const moves = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: tabs.length - 1 };
    if (at < 0 || !(event.key in moves)) return;
    event.preventDefault();
    const next = tabs[(moves[event.key] + tabs.length) % tabs.length];
    selectTab(next.id.slice(4), true);
  }

  function chooseNamespace(name) {
    state.namespace = name;
    $("f-namespace").value = name;
    state.selected = null;
    $("detail").replaceChildren(el("p", { class: "muted", text: "Open a request to see its headers, body and near misses." }));
    follow();
    if (state.tab !== "requests") selectTab(state.tab, false);
  }

  let typing = 0;

  function wire() {
    $("tabs").addEventListener("keydown", onTabKey);
    for (const tab of $("tabs").querySelectorAll("[role=tab]")) {
      tab.addEventListener("click", () => selectTab(tab.id.slice(4), false));
    }
    const list = $("entries");
    list.addEventListener("keydown", onListKey);
    list.addEventListener("click", onListClick);
    $("older").addEventListener("click", () => loadOlder(oldestSeq(), state.generation).catch(showError));
    $("filters").addEventListener("submit", (event) => {
      event.preventDefault();
      follow();
    });
    $("f-namespace").addEventListener("change", (event) => chooseNamespace(event.target.value));
    if (LIVE) $("f-namespace").addEventListener("focus", () => refreshNamespaces().catch(showError));
    for (const id of ["f-method", "f-matched"]) $(id).addEventListener("change", follow);
    for (const id of ["f-service", "f-path"]) {
      $(id).addEventListener("input", () => {
        clearTimeout(typing);
        typing = setTimeout(follow, 300);
      });
    }
    if (LIVE) {
      $("actions").hidden = false;
      $("sign-out").hidden = !DATA.token_required;
      $("sign-out").addEventListener("click", () => signOut().catch(showError));
      $("reset-button").addEventListener("click", () => {
        const which = state.namespace || "the default namespace";
        if (!confirm(`Reset ${which}: clear its journal, counters and scenario states, and remove its API stubs?`)) return;
        call("POST", "/reset").then(() => {
          follow();
          selectTab(state.tab, false);
        }, showError);
      });
    }
  }

  async function start() {
    if (LIVE) {
      $("mode-label").textContent = "live view";
      setStatus("connecting…");
    } else {
      $("mode-label").textContent = `report: ${DATA.title}`;
      $("tab-clock").hidden = true; // a report shows what was recorded, not a clock to move
      const first = DATA.namespaces[0];
      state.namespace = first ? first.name || "" : "";
    }
    await refreshNamespaces(); // in the live view, asks for the token first if the server wants one
    follow();
  }

  wire();
  start().catch(showError);
})();
