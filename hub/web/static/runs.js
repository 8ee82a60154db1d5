// Pipeline runs on the session page: each run of a pipeline artifact drawn as its graph
// (laid out by the vendored dagre, like the gallery's pipelines), every node coloured by
// its state and updated live: `pipeline_run` events carry the run with its nodes' states
// and the execution log entries added; a node's job's `job` events say when it runs and
// how far it got. Agents may cancel a running run. Agent-supplied text (titles, labels,
// node types, errors) is always set as text, never markup.
"use strict";

window.HubRuns = (function () {
  const SHOWN = 20;
  const STATE_WORD = {pending: "pending", queued: "queued", running: "running", succeeded: "done",
    failed: "failed", timed_out: "timed out", cancelled: "cancelled", skipped: "skipped"};
  const ACTIONS = {
    "pipeline_run.started": (d) => `started pipeline run ${d.run_id || ""} (${d.reserved || 0} credits reserved)`,
    "pipeline_run.cancelled": (d) => `cancelled pipeline run ${d.run_id || ""}`,
  };

  function create(ctx) {
    const $ = (id) => document.getElementById(id);
    const el = ctx.el;
    const runs = new Map();     // run id -> {run, log: Map seq -> entry, card, loaded}
    const jobNode = new Map();  // job id -> [run id, node id]
    const jobs = new Map();     // job id -> the latest job heard (updated_at order)
    let you = null;

    // ---- state -----------------------------------------------------------------------

    async function load(me) {
      if (me) you = me;
      const response = await ctx.api(`/pipeline-runs?limit=${SHOWN}`);
      if (!response || !response.ok) return;
      const body = await response.json();
      for (const run of body.runs.slice().reverse()) upsert(run, []);
      for (const entry of runs.values()) if (entry.open) loadDetail(entry.run.id);
      render();
    }

    function upsert(run, log) {
      let entry = runs.get(run.id);
      if (!entry) {
        entry = {run, log: new Map(), card: null, open: false};
        runs.set(run.id, entry);
      } else if (run.updated_at >= entry.run.updated_at || run.status !== "running") {
        entry.run = run;
      }
      for (const n of run.nodes) jobNode.set(n.job_id, [run.id, n.id]);
      for (const e of log) entry.log.set(e.seq, e);
      return entry;
    }

    function onRun(frame) {
      const entry = upsert(frame.run, frame.log || []);
      const seqs = [...entry.log.keys()];
      const gap = seqs.length && Math.max(...seqs) !== seqs.length;
      if (entry.open && gap) loadDetail(frame.run.id);
      render();
      ctx.activityChanged();
    }

    function onJob(job) {
      const known = jobs.get(job.id);
      if (known && known.updated_at > job.updated_at) return;
      jobs.set(job.id, job);
      const where = jobNode.get(job.id);
      if (!where) return;
      const entry = runs.get(where[0]);
      if (entry) draw(entry);
    }

    // A node's state as shown: the run's word for it, or its job's if that is further on
    // (events of the run and of its jobs may cross on the way).
    const RANK = {pending: 0, queued: 1, running: 2};
    const rank = (s) => (s in RANK ? RANK[s] : 3);

    function stateOf(n) {
      const job = jobs.get(n.job_id);
      if (!job) return n.state;
      const heard = job.status === "waiting" ? "pending" : job.status;
      return rank(heard) > rank(n.state) ? heard : n.state;
    }

    async function loadDetail(runId) {
      const response = await ctx.api(`/pipeline-runs/${encodeURIComponent(runId)}`);
      if (!response || !response.ok) return;
      const body = await response.json();
      for (const job of body.jobs) {
        const known = jobs.get(job.id);
        if (!known || known.updated_at <= job.updated_at) jobs.set(job.id, job);
      }
      const entry = upsert(body.run, body.log);
      entry.run = body.run;
      draw(entry);
    }

    // ---- drawing ---------------------------------------------------------------------

    function render() {
      const list = $("runs");
      const ordered = [...runs.values()].sort((a, b) =>
        a.run.created_at < b.run.created_at ? 1 : a.run.created_at > b.run.created_at ? -1 : 0);
      $("runs-panel").hidden = ordered.length === 0;
      for (const entry of ordered.slice(SHOWN)) {
        if (entry.card) entry.card.remove();
        runs.delete(entry.run.id);
      }
      let previous = null;
      for (const entry of ordered.slice(0, SHOWN)) {
        if (!entry.card) entry.card = card(entry);
        draw(entry);
        if (previous ? previous.nextSibling !== entry.card : list.firstChild !== entry.card) {
          if (previous) previous.after(entry.card);
          else list.prepend(entry.card);
        }
        previous = entry.card;
      }
    }

    function card(entry) {
      const li = el("li", "run");
      li.id = "run-" + entry.run.id;
      const head = el("div", "run-head");
      const title = el("span", "run-title");
      const status = el("span", "badge run-status");
      const facts = el("span", "run-facts hint");
      head.append(title, status, facts);
      const frame = el("div", "run-graph");
      const actions = el("div", "run-actions");
      const cancel = el("button", "danger run-cancel", "Cancel run");
      cancel.type = "button";
      cancel.addEventListener("click", () => cancelRun(entry, cancel));
      const error = el("span", "error run-error");
      error.setAttribute("role", "alert");
      actions.append(cancel, error);
      const details = el("details", "run-log-box");
      details.append(el("summary", null, "Execution log"));
      const log = el("ol", "run-log");
      details.append(log);
      details.addEventListener("toggle", () => {
        entry.open = details.open;
        if (details.open) loadDetail(entry.run.id);
      });
      li.append(head, frame, actions, details);
      entry.parts = {title, status, facts, frame, cancel, error, log};
      return li;
    }

    function draw(entry) {
      if (!entry.card) return;
      const run = entry.run;
      const p = entry.parts;
      p.title.textContent = `${run.title} · v${run.artifact_version}`;
      p.status.textContent = run.status;
      p.status.className = "badge run-status run-" + run.status;
      const done = run.nodes.filter((n) => stateOf(n) === "succeeded").length;
      p.facts.textContent = `${done}/${run.nodes.length} steps · ${run.cost_reserved} credits reserved`;
      p.cancel.hidden = run.status !== "running" || !you || !["agent_a", "agent_b"].includes(you.role) || you.watch_only;
      const key = run.nodes.map((n) => n.id + ":" + n.upstream.join(",")).join(";");
      if (p.frame.dataset.key !== key) {
        p.frame.replaceChildren(graph(run));
        p.frame.dataset.key = key;
      }
      for (const n of run.nodes) {
        const group = p.frame.querySelector(`g.node[data-node="${CSS.escape(n.id)}"]`);
        if (!group) continue;
        const state = stateOf(n);
        group.setAttribute("class", "node state-" + state);
        group.dataset.state = state;
        const job = jobs.get(n.job_id);
        let word = STATE_WORD[state] || state;
        if (state === "running" && job && job.progress) word += ` ${job.progress}%`;
        group.querySelector("text.state").textContent = word;
        group.querySelector("title").textContent =
          `${n.id} (${n.type}): ${word}` + (job && job.error ? ` — ${job.error}` : "");
      }
      const seqs = [...entry.log.keys()].sort((a, b) => a - b);
      if (p.log.childElementCount !== seqs.length) {
        p.log.replaceChildren(...seqs.map((s) => logLine(entry.log.get(s))));
      }
    }

    function logLine(e) {
      const li = el("li", "run-log-" + e.status);
      li.append(ctx.timeNode(e.at, "stamp"), document.createTextNode(" "));
      li.append(el("span", "who", e.node === null ? "run" : e.node), document.createTextNode(" "));
      const started = e.node === null && e.status === "running";
      li.append(el("span", "what", started ? "started" : STATE_WORD[e.status] || e.status));
      const r = e.result || {};
      const extra = [];
      if (typeof r.charged === "number") extra.push(`charged ${r.charged}`);
      if (typeof r.cost_reserved === "number") extra.push(`${r.cost_reserved} credits reserved`);
      if (r.error) extra.push(String(r.error));
      if (extra.length) li.append(el("span", "hint", " · " + extra.join(" · ")));
      return li;
    }

    const svg = HubGraph.svg;

    // The run's graph (see graph.js); each node a box with its label (or id) and its
    // state, an arrow per edge into it.
    function graph(run) {
      const nodes = run.nodes.map((n) => {
        const label = n.label || n.id;
        return {id: n.id, width: Math.min(180, Math.max(72, 7 * label.length + 20)), height: 38, label};
      });
      const edges = run.nodes.flatMap((n) => n.upstream.map((u) => ({source: u, target: n.id})));
      return HubGraph.draw(nodes, edges, {
        gap: [14, 36, 6],
        className: "pipeline run-pipeline",
        ariaLabel: `Run of ${run.nodes.length} steps`,
        drawNode(group, n) {
          group.append(svg("title"), svg("rect", {width: n.width, height: n.height, rx: 6}));
          const label = svg("text", {x: n.width / 2, y: 16, class: "label"});
          label.textContent = n.label.length > 24 ? n.label.slice(0, 23) + "…" : n.label;
          const state = svg("text", {x: n.width / 2, y: 30, class: "state"});
          group.append(label, state);
        },
      });
    }

    async function cancelRun(entry, button) {
      button.disabled = true;
      entry.parts.error.textContent = "";
      const response = await ctx.api(`/pipeline-runs/${encodeURIComponent(entry.run.id)}/cancel`, {method: "POST"});
      button.disabled = false;
      if (response && response.ok) {
        upsert(await response.json(), []);
        draw(entry);
      } else {
        let message = "Could not cancel the run.";
        try { message = (await response.json()).message || message; } catch (_) { /* keep */ }
        entry.parts.error.textContent = message;
      }
    }

    function onFrame(frame) {
      if (frame.type === "pipeline_run") onRun(frame);
      else if (frame.type === "job") onJob(frame.job);
    }

    return {load, onFrame};
  }

  return {create, ACTIONS};
})();
