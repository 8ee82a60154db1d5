// Compute on the session page: the session's jobs (status, progress, who asked, attempts,
// cost, the log streaming live) and the pool the session draws on with its balance.
// Jobs come from `job` events (keep the latest `updated_at` of each id) and, on every
// connection, from GET …/jobs; log lines from `job_log` events, with any gap (or what
// was written while the page was away) read back from GET …/jobs/{id}/log?after=. No
// event carries the pool, so it is read again (throttled) after job events. The panel
// shows once the session draws on a pool or has a job. Everything a job, a runner or a
// person wrote is set as text, never markup: logs are hostile input.
"use strict";

window.HubCompute = (function () {
  const JOBS_SHOWN = 100;          // newest jobs in the panel
  const LOG_LINES_SHOWN = 500;     // newest log lines kept in the DOM per job
  const LOG_PAGE = 1000;           // GET …/log?limit=
  const POOL_REFRESH_MS = 400;     // at most one pool read per this, after job events
  const OUTPUT_SHOWN = 4000;       // characters of a job's output JSON shown
  const OPEN = new Set(["queued", "running"]);
  const STATUS_WORD = {
    queued: "queued", running: "running", succeeded: "succeeded", failed: "failed",
    cancelled: "cancelled", timed_out: "timed out",
  };

  // Activity rows of compute, in words (merged into the page's activity log).
  const ACTIONS = {
    "session.pool_set": () => "chose the pool this session draws on",
    "job.created": (d) => `queued a ${d.kind || ""} job (${credits(d.reserved)} reserved)`,
    "job.claimed": (d) => `claimed a job (attempt ${d.attempt}${d.runner ? `, runner “${d.runner}”` : ""})`,
    "job.requeued": (d) => `lost its lease: the job is queued again (after attempt ${d.attempt})`,
    "job.succeeded": (d) => `finished a job (${credits(d.charged)} charged)`,
    "job.failed": (d) => `reported a job failed (${credits(d.charged)} charged)`,
    "job.cancelled": (d) => `cancelled a job (${credits(d.charged)} charged)`,
    "job.timed_out": (d) => `timed out a job (${credits(d.charged)} charged)`,
    "job.refunded": (d) => `refunded ${credits(d.amount)} of a job`,
  };

  function credits(n) {
    const value = Number(n) || 0;
    return `${value.toLocaleString()} credit${value === 1 ? "" : "s"}`;
  }

  function create(ctx) {
    const $ = (id) => document.getElementById(id);
    const el = ctx.el;
    const jobs = new Map();   // id -> {job, log: [entries], seq, filling, again, view}
    let you = null;
    let poolTimer = null;
    let poolLast = 0;
    let poolReading = false;
    let hasPool = false;

    // ---- loading ---------------------------------------------------------------------

    // Every connection: the jobs (and their logs) as they are now, so what happened
    // while the page was away shows too.
    async function load(me) {
      you = me;
      const response = await ctx.api("/jobs?limit=" + JOBS_SHOWN);
      if (response && response.ok) {
        const body = await response.json();
        for (const job of body.jobs) upsert(job);
      }
      render();
      readPool();
      for (const entry of jobs.values()) {
        if (entry.log || OPEN.has(entry.job.status)) fill(entry);
      }
    }

    function upsert(job) {
      let entry = jobs.get(job.id);
      if (entry && Date.parse(entry.job.updated_at) > Date.parse(job.updated_at)) return entry;
      if (!entry) {
        entry = {
          job, log: null, seq: 0, filling: false, again: false, view: null, follow: true, opened: false,
          outputShown: false,
        };
        jobs.set(job.id, entry);
      }
      entry.job = job;
      return entry;
    }

    // ---- live ------------------------------------------------------------------------

    function onJob(job) {
      const known = jobs.get(job.id);
      const before = known && known.job.status;
      const entry = upsert(job);
      if (!known) render();
      else if (entry.view) paint(entry);
      if (entry.log && job.log_count > entry.seq) fill(entry);
      else if (!entry.log && job.status === "running") fill(entry);
      schedulePool();
      if (before !== entry.job.status) {  // a new job or status: an activity row, and said aloud
        ctx.activityChanged();
        $("jobs-said").textContent = `The ${entry.job.kind} job is ${STATUS_WORD[entry.job.status] || entry.job.status}.`;
      }
    }

    function onLog(frame) {
      const entry = jobs.get(frame.job_id);
      if (!entry) return;  // its `job` event (or the list) brings it, and its log with it
      if (!entry.log) { fill(entry); return; }
      if (entry.filling) { entry.again = true; return; }
      const fresh = [];
      let gap = false;
      for (const line of frame.entries) {
        const next = entry.seq + fresh.length + 1;
        if (line.seq < next) continue;
        if (line.seq !== next) { gap = true; break; }
        fresh.push(line);
      }
      append(entry, fresh);  // one paint per batch
      if (gap) fill(entry);  // read what was missed back
    }

    // Read the log after what the page holds, page by page, one read at a time per job.
    async function fill(entry) {
      if (entry.filling) { entry.again = true; return; }
      entry.filling = true;
      try {
        if (!entry.log) entry.log = [];
        // Only the lines the page keeps are worth reading: a long log starts at its tail.
        entry.seq = Math.max(entry.seq, entry.job.log_count - LOG_LINES_SHOWN);
        do {
          entry.again = false;
          for (let page = 0; page < 20; page++) {
            const query = new URLSearchParams({after: String(entry.seq), limit: String(LOG_PAGE)});
            const response = await ctx.api(`/jobs/${encodeURIComponent(entry.job.id)}/log?${query}`);
            if (!response || !response.ok) return;
            const body = await response.json();
            append(entry, body.entries.filter((line) => line.seq > entry.seq));
            if (body.entries.length < LOG_PAGE) break;
          }
        } while (entry.again);
      } finally {
        entry.filling = false;
      }
    }

    function append(entry, lines) {
      if (!lines.length) return;
      for (const line of lines) entry.seq = Math.max(entry.seq, line.seq);
      entry.log.push(...lines);
      if (entry.log.length > LOG_LINES_SHOWN) entry.log.splice(0, entry.log.length - LOG_LINES_SHOWN);
      if (entry.view) paintLog(entry, lines);
    }

    // ---- the jobs panel --------------------------------------------------------------

    function render() {
      const list = $("jobs");
      const shown = [...jobs.values()]
        .sort((x, y) => (y.job.created_at > x.job.created_at ? 1 : y.job.created_at < x.job.created_at ? -1 : 0))
        .slice(0, JOBS_SHOWN);
      const keep = new Set(shown);
      for (const entry of jobs.values()) {
        if (!keep.has(entry) && entry.view) { entry.view.li.remove(); entry.view = null; }
      }
      shown.forEach((entry, i) => {
        if (!entry.view) build(entry);
        if (list.children[i] !== entry.view.li) list.insertBefore(entry.view.li, list.children[i] || null);
        paint(entry);
      });
      $("jobs-empty").hidden = jobs.size > 0;
      showPanel();
      $("jobs-count").textContent = jobs.size ? `${countOpen()} open · ${jobs.size} in all` : "";
    }

    // A session that does not compute (no pool, no job) is not shown an empty panel.
    function showPanel() {
      $("jobs-panel").hidden = !jobs.size && !hasPool;
    }

    function countOpen() {
      return [...jobs.values()].filter((e) => OPEN.has(e.job.status)).length;
    }

    function canCancel() {
      return Boolean(you) && !you.watch_only && (you.role === "agent_a" || you.role === "agent_b");
    }

    function build(entry) {
      const job = entry.job;
      const li = el("li", "job");
      li.id = "job-" + job.id;
      li.setAttribute("aria-labelledby", "job-title-" + job.id);

      const head = el("div", "job-head");
      const title = el("span", "job-title");
      title.id = "job-title-" + job.id;
      title.append(el("code", "job-kind", job.kind));
      const status = el("span", "job-status");
      head.append(title, " ", status);

      const who = el("p", "job-who hint");
      who.append("asked by ", ctx.nameNode(job.requested_by, "who", job.requested_role), " · ",
        ctx.timeNode(job.created_at, "stamp"));

      const bar = el("div", "job-progress");
      const progress = el("progress");
      progress.max = 100;
      progress.setAttribute("aria-label", `Progress of the ${job.kind} job`);
      const percent = el("span", "job-percent");
      const message = el("span", "job-message");
      bar.append(progress, percent, message);

      const facts = el("p", "job-facts");
      const error = el("p", "job-error error");

      const actions = el("div", "job-actions");
      const cancel = el("button", "danger job-cancel", "Cancel");
      cancel.type = "button";
      cancel.setAttribute("aria-label", `Cancel the ${job.kind} job`);
      const cancelError = el("p", "error");
      cancelError.setAttribute("role", "alert");
      cancelError.hidden = true;
      cancel.addEventListener("click", () => cancelJob(entry, cancel, cancelError));
      actions.append(cancel, cancelError);

      const details = el("details", "job-log-box");
      const summary = el("summary", null, "Log");
      const log = el("ol", "job-log");
      log.tabIndex = 0;
      log.setAttribute("aria-label", `Log of the ${job.kind} job`);
      const clipped = el("p", "hint job-log-clipped");
      clipped.hidden = true;
      details.append(summary, clipped, log);
      details.addEventListener("toggle", () => {
        if (details.open && !entry.log) fill(entry);
        if (details.open && entry.follow) scrollToEnd(entry);
      });
      log.addEventListener("scroll", () => {
        entry.follow = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
      });

      const output = el("details", "job-output");
      output.hidden = true;

      li.append(head, who, bar, facts, error, actions, output, details);
      entry.view = {
        li, status, progress, percent, message, facts, error, cancel, actions, output, details, summary, log, clipped,
      };
      if (entry.log) paintLog(entry, entry.log);
    }

    function paint(entry) {
      const job = entry.job;
      const v = entry.view;
      v.li.className = "job status-" + job.status;
      v.status.className = "badge job-status status-" + job.status;
      v.status.textContent = STATUS_WORD[job.status] || job.status;
      v.progress.value = job.progress;
      v.progress.setAttribute("aria-valuetext",
        `${job.progress}%${job.progress_message ? ": " + job.progress_message : ""}`);
      v.percent.textContent = `${job.progress}%`;
      v.message.textContent = job.progress_message;
      v.facts.textContent = "";
      v.facts.append(job.attempts ? `attempt ${job.attempts} of ${job.max_attempts} · `
        : `up to ${job.max_attempts} attempt${job.max_attempts === 1 ? "" : "s"} · `, costText(job));
      v.error.textContent = job.error || "";
      v.error.hidden = !job.error;
      v.actions.hidden = !(canCancel() && OPEN.has(job.status));
      paintCount(entry);
      if (job.finished_at && !entry.outputShown) paintOutput(entry);
      if (job.status === "running" && !entry.opened) {
        entry.opened = true;
        v.details.open = true;  // a job under way shows its log as it streams (once: the reader may close it)
      }
    }

    // What a finished job produced: its output as JSON text, its artifacts (opened in the
    // gallery's view) and its attachments (downloads).
    function paintOutput(entry) {
      const job = entry.job;
      const box = entry.view.output;
      entry.outputShown = true;
      const hasOutput = job.output !== null && job.output !== undefined;
      if (!hasOutput && !job.output_artifacts.length && !job.output_attachments.length) return;
      box.textContent = "";
      box.append(el("summary", null, "Output"));
      if (hasOutput) {
        const text = JSON.stringify(job.output, null, 2);
        const pre = el("pre", "job-output-json", text.length > OUTPUT_SHOWN ? text.slice(0, OUTPUT_SHOWN) + "\n…" : text);
        pre.tabIndex = 0;
        box.append(pre);
      }
      if (job.output_artifacts.length) {
        const list = el("ul", "job-output-files");
        list.setAttribute("aria-label", "Artifacts the job made");
        for (const id of job.output_artifacts) {
          const item = el("li");
          const open = el("button", "link", `artifact #${id}`);
          open.type = "button";
          open.addEventListener("click", () => ctx.openArtifact(id, open));
          item.append(open);
          list.append(item);
        }
        box.append(list);
      }
      if (job.output_attachments.length) {
        const list = el("ul", "job-output-files");
        list.setAttribute("aria-label", "Files the job made");
        for (const id of job.output_attachments) {
          const item = el("li", null, id);
          ctx.attachmentInfo(id).then((info) => {
            if (!info) return;
            item.textContent = "";
            item.append(ctx.downloadButton(id, info));
          });
          list.append(item);
        }
        box.append(list);
      }
      box.hidden = false;
    }

    function paintCount(entry) {
      const count = Math.max(entry.job.log_count, entry.seq);
      entry.view.summary.textContent = `Log (${count.toLocaleString()} line${count === 1 ? "" : "s"})`;
    }

    function costText(job) {
      const parts = [`${credits(job.cost_reserved)} reserved`];
      if (job.cost_used) parts.push(`${job.cost_used.toLocaleString()} used`);
      if (job.cost_charged !== null && job.cost_charged !== undefined) {
        parts.push(`${job.cost_charged.toLocaleString()} charged`);
      }
      if (job.cost_refunded) parts.push(`${job.cost_refunded.toLocaleString()} refunded`);
      return el("span", "job-cost", "cost: " + parts.join(", "));
    }

    function paintLog(entry, lines) {
      const v = entry.view;
      const follow = entry.follow;
      const items = lines.map((line) => {
        const item = el("li", "level-" + line.level);
        item.dataset.seq = String(line.seq);
        item.append(ctx.timeNode(line.at, "stamp"), " ");
        if (line.level !== "info") item.append(el("span", "level", line.level), " ");
        item.append(el("span", "text", line.text));  // text, never markup
        return item;
      });
      v.log.append(...items);
      while (v.log.children.length > LOG_LINES_SHOWN) v.log.firstChild.remove();
      const first = v.log.firstChild ? Number(v.log.firstChild.dataset.seq) : 1;
      v.clipped.hidden = first <= 1;
      if (first > 1) v.clipped.textContent = `Showing the last ${v.log.children.length} lines.`;
      paintCount(entry);
      if (follow) scrollToEnd(entry);
    }

    // The log follows new lines while the reader is at its end; a reader who scrolled
    // up keeps their place.
    function scrollToEnd(entry) {
      const log = entry.view.log;
      log.scrollTop = log.scrollHeight;
      entry.follow = true;
    }

    async function cancelJob(entry, button, error) {
      button.disabled = true;
      error.hidden = true;
      const response = await ctx.api(`/jobs/${encodeURIComponent(entry.job.id)}/cancel`, {method: "POST"});
      button.disabled = false;
      if (response && response.ok) {
        onJob(await response.json());
        return;
      }
      const body = response ? await response.json().catch(() => ({})) : {};
      error.textContent = body.code === "forbidden" ? "Only the session's agents may cancel jobs."
        : body.code === "invalid_transition" ? "This job has already finished."
        : body.message || "The hub could not be reached: try again.";
      error.hidden = false;
    }

    // ---- the pool --------------------------------------------------------------------

    function schedulePool() {
      if (poolTimer) return;
      const wait = Math.max(0, poolLast + POOL_REFRESH_MS - Date.now());
      poolTimer = setTimeout(() => { poolTimer = null; readPool(); }, wait);
    }

    async function readPool() {
      if (poolReading) { schedulePool(); return; }
      poolReading = true;
      poolLast = Date.now();
      try {
        const response = await ctx.api("/pool");
        if (!response) return;
        if (response.status === 404) { showPool(null); return; }
        if (response.ok) showPool((await response.json()).pool);
      } finally {
        poolReading = false;
      }
    }

    function showPool(pool) {
      const box = $("pool");
      hasPool = Boolean(pool);
      showPanel();
      const shown = pool ? [pool.id, pool.name, pool.balance, pool.reserved, pool.spent].join(" ") : "none";
      if (box.dataset.shown === shown) return;  // unchanged: not announced again
      box.dataset.shown = shown;
      box.textContent = "";
      if (!pool) {
        box.append(el("span", "hint", "This session draws on no pool yet (agent A chooses one)."));
        return;
      }
      const name = el("span", "pool-name", pool.name);
      name.title = `${pool.id}, owned by ${pool.owner_kind === "space" ? "the space " : ""}${pool.owner}`;
      const figures = el("dl", "pool-figures");
      for (const [key, label, value] of [
        ["balance", "credits available", pool.balance], ["reserved", "reserved", pool.reserved],
        ["spent", "spent", pool.spent],
      ]) {
        const item = el("div", "pool-" + key);
        item.append(el("dt", null, label), el("dd", null, value.toLocaleString()));
        figures.append(item);
      }
      box.append(el("span", "hint", "Pool"), name, figures);
    }

    // A top-up comes with no event: a page shown again reads the pool again.
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && you) schedulePool();
    });

    return {load, onJob, onLog, poolChanged: schedulePool, size: () => jobs.size};
  }

  return {create, ACTIONS};
})();
