// The observer page: redeem an invite, then follow the session live over the websocket,
// resuming with `since` after any drop so the history stays complete and ordered.
// Runs under a strict Content-Security-Policy: no inline code or styles, nothing loaded
// from elsewhere (Markdown is rendered by the vendored markdown-it, see vendor/README.md).
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const STORE_KEY = "hub.observer";  // sessionStorage: this tab only, never a cookie
  const USER_KEY = "hub.userKey";    // set by "My hub" (/me) in this tab
  const NAME_KEY = "hub.name";       // localStorage: the name this browser last gave

  const state = {
    creds: null,          // {code, token, sessionId, participantId, name}
    session: null,        // the session as last heard (hello, session events)
    ws: null,
    lastId: 0,            // highest message id shown
    interruptShown: 0,    // the system message of the interrupt in the notice
    interruptDismissed: 0,  // the last one dismissed: the history replaying it keeps it so
    attempt: 0,
    closedForGood: false,
    live: false,
    refs: 0,
    pending: new Map(),   // ref -> resolve(answer)
    messages: new Map(),  // id -> message
    notes: new Map(),     // id -> note
    editors: new Map(),   // note id -> {draft, base, conflict}
    files: new Map(),     // path -> file info
    uploads: new Map(),   // attachment id -> promise of its metadata (null: unreadable)
    openFile: null,
    presence: new Map(),  // participant id -> presence
    names: new Map(),     // participant id -> display name (presence, hello, activity)
    roles: new Map(),     // participant id -> role
    namesTimer: null,
    activityAfter: 0,
    activityTimer: null,
    chatDraftId: null,    // client_msg_id reused until the text is acked or changed
    chatDraftText: null,
    filter: {text: "", type: "", author: ""},
    streams: new Map(),   // "author/stream id" -> {info, text, size (code points), li, ended}
    streamsHeard: new Set(),  // streams this connection was told of (hello .. resumed)
    approvals: new Map(), // request message id -> {message, status, decided_by, comment}
  };

  // ---- views --------------------------------------------------------------------------

  function show(view) {
    for (const id of ["join-view", "fatal-view", "session-view"]) $(id).hidden = id !== view;
  }

  function fatal(message) {
    state.closedForGood = true;
    if (state.ws) state.ws.close();
    $("fatal-message").textContent = message;
    show("fatal-view");
    document.title = "Hub";
  }

  function setConnection(text, kind) {
    const el = $("connection");
    el.textContent = text;
    el.className = "connection " + (kind || "");
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const JOIN_ERRORS = {
    invite_invalid: "No session has that invite code. Check it and try again.",
    invite_expired: "That invite code has expired. Ask the agents' owner for a new one.",
    rate_limited: "Too many attempts from here. Wait a minute, then try again.",
    session_deleted: "That session was deleted.",
  };

  // ---- names and times ----------------------------------------------------------------

  const ROLE = {agent_a: "Agent A", agent_b: "Agent B", observer: "Observer", system: "System"};

  function learn(participantId, role, name) {
    if (role && !state.roles.has(participantId)) state.roles.set(participantId, role);
    if (name && state.names.get(participantId) !== name) {
      state.names.set(participantId, name);
      if (!state.namesTimer) state.namesTimer = setTimeout(refreshNames, 0);
    }
  }

  function nameOf(participantId) {
    return state.names.get(participantId) || participantId;
  }

  // "Agent B (bee)", "Observer (Ada)": who did something, for the activity log.
  function roleAndName(participantId, role) {
    if (role === "system") return ROLE.system;
    return `${ROLE[role] || role} (${nameOf(participantId)})`;
  }

  function nameText(node) {
    const id = node.dataset.pid;
    return node.dataset.role ? roleAndName(id, node.dataset.role) : nameOf(id);
  }

  // A person's name that follows what the page learns later (presence often arrives
  // after the history that mentions them).
  function nameNode(participantId, className, role) {
    const node = el("span", className);
    node.dataset.pid = participantId;
    if (role) node.dataset.role = role;
    node.textContent = nameText(node);
    return node;
  }

  function refreshNames() {
    state.namesTimer = null;
    for (const node of document.querySelectorAll("[data-pid]")) {
      const text = nameText(node);
      if (node.textContent !== text) node.textContent = text;
    }
    renderAuthorFilter();
  }

  const TIME = {hour: "2-digit", minute: "2-digit", second: "2-digit"};

  // Clock time for today; the date as well for any other day; the full date and time
  // (with the time zone) on hover.
  function timeNode(iso, className) {
    const node = el("time", className);
    const d = new Date(iso);
    if (isNaN(d)) return node;
    const now = new Date();
    node.dateTime = d.toISOString();
    node.title = d.toLocaleString([], {dateStyle: "full", timeStyle: "long"});
    if (d.toDateString() === now.toDateString()) {
      node.textContent = d.toLocaleTimeString([], TIME);
    } else {
      const date = {day: "numeric", month: "short"};
      if (d.getFullYear() !== now.getFullYear()) date.year = "numeric";
      node.textContent = d.toLocaleDateString([], date) + ", " +
        d.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
    }
    return node;
  }

  // ---- Markdown -----------------------------------------------------------------------

  // markdown-it with raw HTML off and its own link validation (no javascript:, vbscript:,
  // file: or non-image data: URLs). Links open in a new tab without a referrer or opener;
  // headings start at h3 (they sit inside a panel); table alignment becomes a class (the
  // CSP refuses inline styles); images other than data: images become links, so the page
  // never loads anything from elsewhere.
  function makeMarkdown(breaks) {
    if (typeof window.markdownit !== "function") return null;
    const md = window.markdownit({html: false, linkify: true, breaks, typographer: false});
    md.core.ruler.push("hub_safe", (core) => {
      const walk = (tokens) => {
        for (const token of tokens) {
          if (token.type === "heading_open" || token.type === "heading_close") {
            token.tag = "h" + Math.min(Number(token.tag.slice(1)) + 2, 6);  // h3.. in a panel
          } else if (token.type === "link_open") {
            token.attrSet("target", "_blank");
            token.attrSet("rel", "noopener noreferrer");
          } else if (token.type === "th_open" || token.type === "td_open") {
            const align = /text-align:\s*(\w+)/.exec(token.attrGet("style") || "");
            if (token.attrs) token.attrs = token.attrs.filter(([name]) => name !== "style");
            if (align) token.attrJoin("class", "align-" + align[1]);
          }
          if (token.children) walk(token.children);
        }
      };
      walk(core.tokens);
      // GitHub-style task lists: "- [x] done" shows a ticked box.
      core.tokens.forEach((token, i) => {
        const first = token.type === "inline" && i > 1 && core.tokens[i - 2].type === "list_item_open"
          && token.children && token.children[0];
        const box = first && first.type === "text" && /^\[([ xX])\]\s+/.exec(first.content);
        if (box) first.content = (box[1] === " " ? "☐ " : "☑ ") + first.content.slice(box[0].length);
      });
    });
    const image = md.renderer.rules.image;
    md.renderer.rules.image = (tokens, idx, options, env, self) => {
      const token = tokens[idx];
      const src = token.attrGet("src") || "";
      if (/^data:image\//i.test(src)) return image(tokens, idx, options, env, self);
      const alt = self.renderInlineAsText(token.children, options, env) || src;
      const esc = md.utils.escapeHtml;
      return `<a href="${esc(src)}" target="_blank" rel="noopener noreferrer">🖼 ${esc(alt)}</a>`;
    };
    return md;
  }

  const markdown = {messages: makeMarkdown(true), notes: makeMarkdown(false)};

  function renderMarkdown(node, source, kind) {
    const md = markdown[kind];
    if (md) node.innerHTML = md.render(source);
    else node.textContent = source;  // the library failed to load: plain text, still safe
  }

  // ---- joining ------------------------------------------------------------------------

  function normalizeCode(code) {
    return code.trim().toUpperCase().replace(/[\s_]+/g, "-");
  }

  function saved() {
    try {
      return JSON.parse(sessionStorage.getItem(STORE_KEY) || "null");
    } catch (_) {
      return null;
    }
  }

  function savedName() {
    try {
      return localStorage.getItem(NAME_KEY) || "";
    } catch (_) {
      return "";
    }
  }

  async function join(code, name) {
    const error = $("join-error");
    error.hidden = true;
    if (name) {
      try {
        localStorage.setItem(NAME_KEY, name);
      } catch (_) { /* private mode: the name is simply not remembered */ }
    }
    let response;
    try {
      response = await fetch("/api/join", {
        method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify(name ? {invite_code: code, role: "observer", display_name: name}
                                  : {invite_code: code, role: "observer"}),
      });
    } catch (_) {
      showJoin(code, "The hub cannot be reached. Check your connection and try again.");
      return;
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      showJoin(code, JOIN_ERRORS[body.code] || body.message || "Could not join that session.");
      return;
    }
    const creds = {
      code: normalizeCode(code), token: body.token, sessionId: body.session.id,
      participantId: body.participant_id, name: name || null,
    };
    sessionStorage.setItem(STORE_KEY, JSON.stringify(creds));
    history.replaceState(null, "", "/join/" + encodeURIComponent(creds.code));
    start(creds);
  }

  // /watch/SESSION_ID, from "My hub": the person signed in there (the user key in this
  // tab's sessionStorage) watches a session of their agents with a token of their own.
  async function watchOwn(sessionId) {
    const remembered = saved();
    if (remembered && remembered.sessionId === sessionId) { start(remembered); return; }
    const key = sessionStorage.getItem(USER_KEY);
    if (!key) {
      showJoin("", "Sign in on My hub (/me) to watch your agents' sessions, or enter an invite code.");
      return;
    }
    const headers = {Authorization: "Bearer " + key};
    let response, body;
    try {
      const me = await fetch("/api/me", {headers});
      const name = me.ok ? (await me.json()).display_name : null;
      response = await fetch(`/api/sessions/${encodeURIComponent(sessionId)}/watch`, {
        method: "POST", headers: {...headers, "Content-Type": "application/json"}, body: "{}",
      });
      body = await response.json().catch(() => ({}));
      if (response.ok) {
        const creds = {
          code: null, token: body.token, sessionId: body.session.id,
          participantId: body.participant_id, name,
        };
        sessionStorage.setItem(STORE_KEY, JSON.stringify(creds));
        start(creds);
        return;
      }
    } catch (_) {
      showJoin("", "The hub cannot be reached. Check your connection and try again.");
      return;
    }
    showJoin("", body.code === "session_not_found"
      ? "That session is not one of your agents' or your spaces'." : body.message || "Could not watch that session.");
  }

  // The join form, always with a name to give: from /join/CODE the code is filled in and
  // the name field has the focus.
  function showJoin(code, message) {
    show("join-view");
    if (code) $("join-code").value = code;
    const nameInput = $("join-name");
    if (!nameInput.value) nameInput.value = savedName();
    const error = $("join-error");
    error.textContent = message || "";
    error.hidden = !message;
    const focus = code ? nameInput : $("join-code");
    focus.focus();
    if (focus === nameInput) nameInput.select();
  }

  $("join-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const code = $("join-code").value;
    if (code.trim()) join(code, $("join-name").value.trim());
  });

  // ---- the gallery (gallery.js): artifacts, with what it needs from the page ------------

  let gallery = null;
  let runs = null;  // pipeline runs (runs.js)

  function galleryContext() {
    return {
      el,
      nameOf,
      api: (path) => fetch(`/api/sessions/${encodeURIComponent(state.creds.sessionId)}${path}`,
        {headers: {Authorization: "Bearer " + state.creds.token}}).catch(() => null),
      attachmentInfo: uploadInfo,
      fetchAttachment,
      dataUrl: attachmentDataUrl,
      downloadButton(id, info) {
        const save = el("button", "link download", `${info.name} (${sizeText(info.size)})`);
        save.type = "button";
        save.title = "Download " + info.name;
        save.addEventListener("click", () => download(id, info.name, save));
        return save;
      },
      showMessage(id) {
        const item = document.getElementById("msg-" + id);
        if (!item) return;
        if (item.hidden) {  // filtered out: clear the filter so the message can be seen
          $("filter-text").value = "";
          $("filter-type").value = "";
          $("filter-author").value = "";
          $("filter-text").dispatchEvent(new Event("input"));
        }
        item.scrollIntoView({block: "center"});
        item.classList.remove("flash");
        void item.offsetWidth;
        item.classList.add("flash");
        item.tabIndex = -1;
        item.focus({preventScroll: true});
      },
    };
  }

  // ---- compute (compute.js): jobs, their logs and the session's pool --------------------

  let compute = null;

  function computeContext() {
    return {
      ...galleryContext(),  // el, attachmentInfo, downloadButton
      nameNode, timeNode,
      activityChanged: scheduleActivity,
      openArtifact: (id, from) => gallery.open(id, from),
      api: (path, options = {}) => fetch(`/api/sessions/${encodeURIComponent(state.creds.sessionId)}${path}`,
        {...options, headers: {Authorization: "Bearer " + state.creds.token}}).catch(() => null),
    };
  }

  // ---- the live connection ------------------------------------------------------------

  function start(creds) {
    state.creds = creds;
    gallery = window.HubGallery.create(galleryContext());
    compute = window.HubCompute.create(computeContext());
    $("back-home").hidden = !sessionStorage.getItem(USER_KEY);  // signed in on "My hub"
    learn(creds.participantId, "observer", creds.name);
    show("session-view");
    runs = window.HubRuns.create({el, timeNode, activityChanged: scheduleActivity, api: (path, options = {}) =>
      fetch(`/api/sessions/${encodeURIComponent(state.creds.sessionId)}${path}`,
        {...options, headers: {Authorization: "Bearer " + state.creds.token}}).catch(() => null)});
    Object.assign(ACTIONS, window.HubRuns.ACTIONS);
    renderPresence();
    updateEmpty();
    connect();
  }

  function connect() {
    if (state.closedForGood) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${scheme}//${location.host}/ws?token=${encodeURIComponent(state.creds.token)}` +
      `&since=${state.lastId}`;
    setConnection(state.attempt ? `Reconnecting… (attempt ${state.attempt})` : "Connecting…",
      state.attempt ? "warn" : "");
    const ws = new WebSocket(url);
    state.ws = ws;
    state.live = false;
    ws.onmessage = (event) => handle(JSON.parse(event.data));
    ws.onclose = (event) => {
      if (state.ws !== ws) return;
      state.live = false;
      for (const resolve of state.pending.values()) {
        resolve({type: "error", code: "unavailable", message: "connection lost"});
      }
      state.pending.clear();
      if (event.code === 4001) {
        sessionStorage.removeItem(STORE_KEY);
        fatal("Your access to this session is no longer valid.");
        return;
      }
      if (event.code === 4004) {
        fatal("This session was deleted.");
        return;
      }
      if (state.closedForGood) return;
      setPresenceKnown(false);
      state.attempt += 1;
      const delay = Math.min(250 * 2 ** (state.attempt - 1), 8000);
      setConnection(`Connection lost — reconnecting… (attempt ${state.attempt})`, "warn");
      setTimeout(connect, delay);
    };
  }

  // Test hook and manual escape hatch: drop the socket as a network failure would.
  window.hubDropConnection = () => state.ws && state.ws.close(4000, "dropped by the page");

  function request(frame) {
    return new Promise((resolve) => {
      if (!state.ws || state.ws.readyState !== WebSocket.OPEN || !state.live) {
        resolve({type: "error", code: "unavailable", message: "not connected right now"});
        return;
      }
      const ref = "p" + ++state.refs;
      state.pending.set(ref, resolve);
      state.ws.send(JSON.stringify({...frame, ref}));
    });
  }

  function handle(frame) {
    runs.onFrame(frame);  // pipeline runs (runs.js) follow runs and their nodes' jobs
    switch (frame.type) {
      case "hello": return onHello(frame);
      case "message": return onMessage(frame.message);
      case "stream_started": return onStreamStarted(frame.stream, frame.text);
      case "stream_delta": return onStreamDelta(frame);
      case "stream_ended": return onStreamEnded(frame);
      case "resumed":
        forgetUnheardStreams();
        state.live = true;
        state.attempt = 0;
        setConnection("Live", "ok");
        return;
      case "note": return onNote(frame.note);
      case "file": return onFile(frame.file);
      case "attachment":
        state.uploads.set(frame.attachment.id, Promise.resolve(frame.attachment));
        scheduleActivity();
        return;
      case "artifact":
        gallery.upsert(frame.artifact);
        scheduleActivity();
        return;
      case "presence": return onPresence(frame.presence);
      case "session": return onSession(frame.session, frame.deleted);
      case "approval":
        onDecision(frame.approval.message_id, frame.approval);
        scheduleActivity();
        return;
      case "interrupt":
        showInterrupt(frame.interrupt, frame.message_id);
        scheduleActivity();
        return;
      case "job": return compute.onJob(frame.job);
      case "job_log": return compute.onLog(frame);
      case "ack":
      case "error":
      case "pong": {
        const resolve = state.pending.get(frame.ref);
        if (resolve) {
          state.pending.delete(frame.ref);
          resolve(frame);
        }
        return;
      }
    }
  }

  function onHello(frame) {
    setConnection("Catching up…", "");
    runs.load(frame.you);  // every connection: runs that moved while the page was away
    state.streamsHeard.clear();
    if (frame.you) learn(frame.you.participant_id, frame.you.role, frame.you.display_name);
    // A watch-only token (a space's viewer, a public session's visitor) reads, no more.
    document.body.classList.toggle("watch-only", Boolean(frame.you && frame.you.watch_only));
    onSession(frame.session, false);
    state.presence.clear();
    for (const p of frame.presence) {
      state.presence.set(p.participant_id, p);
      learn(p.participant_id, p.role, p.display_name);
    }
    setPresenceKnown(true);
    loadNotes(frame.notes);
    state.files.clear();
    for (const f of frame.files) state.files.set(f.path, f);
    renderFiles();
    refreshActivity();
    gallery.load();  // every connection: what was made while the page was away too
    compute.load(frame.you);
  }

  // ---- session header -----------------------------------------------------------------

  function onSession(session, deleted) {
    if (deleted) {
      fatal("This session was deleted.");
      return;
    }
    const firstTime = !state.session;
    state.session = session;
    if (firstTime) scheduleForks();
    $("session-name").textContent = session.name;
    document.title = session.name + " — Hub";
    const status = $("session-status");
    status.textContent = session.status;
    status.className = "badge status-" + session.status;
    $("session-mode").textContent = session.mode;
    scheduleActivity();
  }

  // ---- empty panels -------------------------------------------------------------------

  function updateEmpty() {
    const shown = [...$("messages").children].filter((li) => !li.hidden).length;
    const empty = $("messages-empty");
    empty.textContent = state.messages.size ? "No messages match the filter." : "No messages yet.";
    empty.hidden = shown > 0;
    const me = state.creds && state.creds.participantId;
    $("presence-empty").hidden = [...state.presence.values()].some(
      (p) => p.participant_id !== me && p.status !== "offline");
    $("notes-empty").hidden = state.notes.size > 0;
    $("files-empty").hidden = state.files.size > 0;
    $("activity-empty").hidden = $("activity").children.length > 0;
  }

  // ---- messages -----------------------------------------------------------------------

  // Desktop: the list scrolls inside its panel and follows new messages while the reader
  // is at the bottom. Phone: the page itself scrolls and keeps the reader's place.
  function listScrolls(list) {
    return getComputedStyle(list).overflowY === "auto";
  }

  function onMessage(m) {
    if (m.id <= state.lastId) return;  // already shown: resumes overlap, never duplicate
    state.lastId = m.id;
    state.messages.set(m.id, m);
    noteApproval(m);
    const newAuthor = !state.roles.has(m.author_id) || !authorOptions().has(m.author_id);
    learn(m.author_id, m.author_role, null);
    const list = $("messages");
    const follow = listScrolls(list) && list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    const item = renderMessage(m);
    item.hidden = !matches(m);
    list.appendChild(item);
    if (follow) list.scrollTop = list.scrollHeight;
    if (newAuthor) renderAuthorFilter();
    updateFilterCount();
    updateEmpty();
    scheduleActivity();
  }

  function renderMessage(m) {
    const li = el("li", `message type-${m.msg_type} role-${m.author_role}`);
    li.id = "msg-" + m.id;
    li.dataset.id = m.id;
    const head = el("div", "meta");
    const who = el("span", "author");
    who.append(nameNode(m.author_id, "name"));
    if (m.author_id === state.creds.participantId) who.append(" (you)");
    head.append(who, " ", el("span", "role", ROLE[m.author_role] || m.author_role));
    if (m.msg_type !== "chat") head.append(" ", el("span", "kind", m.msg_type));
    const taskState = m.msg_type === "status" && m.metadata && m.metadata.state;
    if (typeof taskState === "string") {
      head.append(" ", el("span", "task-state state-" + taskState, taskState));
    }
    const stamp = el("a", "stamp", `#${m.id} · `);
    stamp.href = "#msg-" + m.id;
    stamp.append(timeNode(m.created_at));
    head.append(" ", stamp);
    li.append(head);
    if (m.parent_id) {
      const parent = state.messages.get(m.parent_id);
      const reply = el("a", "reply");
      reply.href = "#msg-" + m.parent_id;
      const snippet = parent ? parent.content.slice(0, 80) + (parent.content.length > 80 ? "…" : "") : "";
      reply.textContent = `↪ in reply to #${m.parent_id}${snippet ? ": " + snippet : ""}`;
      li.append(reply);
    }
    const content = el("div", "content md");
    renderMarkdown(content, m.content, "messages");
    li.append(content);
    const asked = state.approvals.get(m.id);
    if (asked) {
      const line = el("p", "approval-line");
      line.id = "approval-line-" + m.id;
      fillApprovalLine(line, asked);
      li.append(line);
    }
    if (m.content.length > 1200 || m.content.split("\n").length > 16) {
      content.classList.add("collapsed");
      const more = el("button", "more", "Show all");
      more.type = "button";
      more.setAttribute("aria-expanded", "false");
      more.addEventListener("click", () => {
        const open = content.classList.toggle("collapsed") === false;
        more.textContent = open ? "Show less" : "Show all";
        more.setAttribute("aria-expanded", String(open));
      });
      li.append(more);
    }
    if (m.attachments && m.attachments.length) {
      const files = el("ul", "attachments");
      for (const path of m.attachments) {
        const item = el("li");
        const open = el("button", "link", "attached: " + path);
        open.type = "button";
        open.addEventListener("click", () => openFile(path));
        item.append(open);
        files.append(item);
      }
      li.append(files);
    }
    if (m.attachment_ids && m.attachment_ids.length) {
      const uploads = el("ul", "uploads");
      for (const id of m.attachment_ids) {
        const item = el("li", "upload", "attachment…");
        item.dataset.id = id;
        uploads.append(item);
        showUpload(item, id);
      }
      li.append(uploads);
    }
    gallery.attachChips(li, m.id);
    if (m.metadata && Object.keys(m.metadata).length) {
      const details = el("details", "metadata");
      details.append(el("summary", null, "metadata"), el("pre", null, JSON.stringify(m.metadata, null, 2)));
      li.append(details);
    }
    return li;
  }

  // ---- approvals and interrupts -------------------------------------------------------
  // A request is an `action` message whose metadata carries `approval`; its decision is a
  // system message replying to it (in the history too) and, live, an `approval` event.

  function noteApproval(m) {
    const meta = m.metadata || {};
    if (m.msg_type === "action" && meta.approval && typeof meta.approval.description === "string") {
      if (!state.approvals.has(m.id)) {
        state.approvals.set(m.id, {message: m, status: "pending", decided_by: null, comment: null});
      }
      renderApprovals();
    } else if (m.author_role === "system" && meta.approval && m.parent_id) {
      onDecision(m.parent_id, meta.approval);
    } else if (m.author_role === "system" && meta.interrupt) {
      showInterrupt(meta.interrupt, m.id);
    }
  }

  function onDecision(messageId, decision) {
    const asked = state.approvals.get(messageId);
    if (!asked || asked.status !== "pending") return;
    asked.status = decision.status;
    asked.decided_by = decision.decided_by || null;
    asked.comment = decision.comment || null;
    const line = $("approval-line-" + messageId);
    if (line) fillApprovalLine(line, asked);
    renderApprovals();
  }

  function expiresAt(asked) {
    const seconds = Number(asked.message.metadata.approval.expires_in) || 3600;
    return new Date(new Date(asked.message.created_at).getTime() + seconds * 1000);
  }

  function fillApprovalLine(line, asked) {
    line.textContent = "";
    line.append(el("span", "approval-status " + asked.status, asked.status), " ");
    line.append(asked.message.metadata.approval.description);
    if (asked.status === "approved" || asked.status === "rejected") {
      line.append(" — by ", nameNode(asked.decided_by, "name"));
      if (asked.comment) line.append(": " + asked.comment);
    }
  }

  function renderApprovals() {
    const list = $("approvals");
    const pending = [...state.approvals.entries()].filter(([, a]) => a.status === "pending");
    const shown = new Set(pending.map(([id]) => "approval-" + id));
    for (const item of [...list.children]) if (!shown.has(item.id)) item.remove();
    for (const [id, asked] of pending) {
      if ($("approval-" + id)) continue;
      list.append(renderApproval(id, asked));
    }
    $("approvals-panel").hidden = pending.length === 0;
  }

  function renderApproval(id, asked) {
    const m = asked.message;
    const li = el("li", "approval");
    li.id = "approval-" + id;
    li.append(el("div", "what", m.metadata.approval.description));
    const when = el("div", "when");
    when.append(nameNode(m.author_id, "name"), ` asks (#${id}) · expires `,
      expiresAt(asked).toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"}));
    li.append(when);
    const form = el("form", "decide");
    const label = el("label", "visually-hidden", "Comment");
    label.htmlFor = "approval-comment-" + id;
    const comment = el("input");
    comment.id = "approval-comment-" + id;
    comment.maxLength = 2000;
    comment.placeholder = "Comment (optional)";
    const approve = el("button", "approve", "Approve");
    approve.type = "button";
    const reject = el("button", "reject", "Reject");
    reject.type = "button";
    const error = el("p", "error");
    error.setAttribute("role", "alert");
    error.hidden = true;
    const decide = async (decision) => {
      approve.disabled = reject.disabled = true;
      error.hidden = true;
      const answer = await request({type: "decide", message_id: id, decision,
        comment: comment.value.trim() || null});
      approve.disabled = reject.disabled = false;
      if (answer.type === "ack") return onDecision(id, answer.approval);
      if (answer.code === "conflict" && answer.approval) {
        onDecision(id, answer.approval);
        return;
      }
      error.textContent = answer.code === "forbidden"
        ? "You are not an approver of this request."
        : `Not decided: ${answer.message}`;
      error.hidden = false;
    };
    approve.addEventListener("click", () => decide("approved"));
    reject.addEventListener("click", () => decide("rejected"));
    form.addEventListener("submit", (event) => event.preventDefault());
    form.append(label, comment, approve, reject, error);
    li.append(form);
    return li;
  }

  // The last interrupt (its system message's id), until dismissed; one dismissed stays so
  // when the history replays it.
  function showInterrupt(interrupt, messageId) {
    if (messageId <= state.interruptDismissed || messageId < state.interruptShown) return;
    const text = $("interrupt-text");
    text.textContent = "";
    text.append(nameNode(interrupt.by, "name"), " interrupted ",
      nameNode(interrupt.target_id, "name"), interrupt.reason ? ": " + interrupt.reason : ".");
    state.interruptShown = messageId;
    keepFollowing(() => { $("interrupt-notice").hidden = false; });
  }

  $("interrupt-dismiss").addEventListener("click", () => {
    state.interruptDismissed = state.interruptShown;
    keepFollowing(() => { $("interrupt-notice").hidden = true; });
  });

  // Change the space above the transcript without losing its end from view.
  function keepFollowing(change) {
    const list = $("messages");
    const follow = listScrolls(list) && list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    change();
    if (follow) list.scrollTop = list.scrollHeight;
  }

  $("interrupt-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = $("interrupt-error");
    error.hidden = true;
    const answer = await request({type: "interrupt", target: $("interrupt-target").value,
      reason: $("interrupt-reason").value.trim()});
    if (answer.type === "ack") {
      $("interrupt-reason").value = "";
      return;
    }
    error.textContent = answer.code === "forbidden"
      ? "Only agent A and approvers may interrupt."
      : `Not sent: ${answer.message}`;
    error.hidden = false;
  });

  // An uploaded attachment: its thumbnail (an image the hub could decode) and a button
  // that downloads it. Everything is fetched with the token in a header, never in a URL;
  // the thumbnail is shown as a data: URL (the page's CSP allows no other image source).
  function attachmentUrl(id, what) {
    const base = `/api/sessions/${encodeURIComponent(state.creds.sessionId)}/attachments/`;
    return base + encodeURIComponent(id) + (what ? "/" + what : "");
  }

  function fetchAttachment(id, what) {
    const headers = {Authorization: "Bearer " + state.creds.token};
    return fetch(attachmentUrl(id, what), {headers}).catch(() => null);
  }

  function uploadInfo(id) {
    if (!state.uploads.has(id)) {
      state.uploads.set(id, fetchAttachment(id).then((r) => (r && r.ok ? r.json() : null)));
    }
    return state.uploads.get(id);
  }

  function sizeText(bytes) {
    if (bytes < 1024) return bytes + " B";
    if (bytes < 1024 * 1024) return (bytes / 1024).toFixed(1) + " KB";
    return (bytes / 1024 / 1024).toFixed(1) + " MB";
  }

  async function attachmentDataUrl(id, what) {
    const response = await fetchAttachment(id, what);
    if (!response || !response.ok) return "";
    return new Promise((resolve) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result);
      reader.onerror = () => resolve("");
      response.blob().then((blob) => reader.readAsDataURL(blob), () => resolve(""));
    });
  }

  async function showUpload(item, id) {
    const info = await uploadInfo(id);
    item.textContent = "";
    if (!info) {
      item.append(el("span", "upload-missing", "attachment " + id + " (unavailable)"));
      return;
    }
    if (info.thumbnail) {
      const src = await attachmentDataUrl(id, "thumbnail");
      if (src) {
        const img = el("img", "thumbnail");
        img.alt = info.name;
        img.src = src;
        item.append(img);
      }
    }
    const save = el("button", "link download", `${info.name} (${sizeText(info.size)})`);
    save.type = "button";
    save.title = "Download " + info.name;
    save.addEventListener("click", () => download(id, info.name, save));
    item.append(save);
  }

  async function download(id, name, button) {
    button.disabled = true;
    try {
      const response = await fetchAttachment(id, "content");
      if (!response || !response.ok) return;
      const url = URL.createObjectURL(await response.blob());
      const link = el("a");
      link.href = url;
      link.download = name;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } finally {
      button.disabled = false;
    }
  }

  // ---- streams: messages being written, shown as they grow ------------------------------
  // Text offsets count code points (as the hub does), not UTF-16 units.

  const ABORT_REASON = {
    disconnected: "its author disconnected",
    cancelled: "stopped by its author",
    shutdown: "the hub restarted",
    lost: "the hub holding it stopped",
  };

  function streamKey(authorId, streamId) {
    return authorId + "/" + streamId;
  }

  function onStreamStarted(info, text) {
    const key = streamKey(info.author_id, info.id);
    state.streamsHeard.add(key);
    const known = state.streams.get(key);
    if (known && !known.ended) {
      const size = [...text].length;
      if (size > known.size) {  // a catch-up after a drop: the text so far
        known.text = text;
        known.size = size;
        showStreamText(known);
      }
      return;
    }
    if (known) known.li.remove();
    learn(info.author_id, info.author_role, null);
    const stream = {info, text, size: [...text].length, li: renderStream(info), ended: false};
    state.streams.set(key, stream);
    $("streams").append(stream.li);
    showStreamText(stream);
  }

  function onStreamDelta(frame) {
    const stream = state.streams.get(streamKey(frame.author_id, frame.stream_id));
    if (!stream || stream.ended || frame.offset > stream.size) return;
    const chars = [...frame.text];
    const fresh = chars.slice(stream.size - frame.offset);  // what a catch-up already gave
    if (!fresh.length) return;
    stream.text += fresh.join("");
    stream.size += fresh.length;
    showStreamText(stream);
  }

  function onStreamEnded(frame) {
    const key = streamKey(frame.author_id, frame.stream_id);
    const stream = state.streams.get(key);
    if (!stream || stream.ended) return;
    if (!frame.aborted) {  // its message comes (or came) as an ordinary message
      stream.li.remove();
      state.streams.delete(key);
      return;
    }
    stream.ended = true;
    stream.li.classList.add("aborted");
    stream.li.querySelector(".writing").textContent =
      "aborted — " + (ABORT_REASON[frame.reason] || "ended") + "; nothing was posted";
  }

  function forgetUnheardStreams() {
    // Open before a drop, not open any more: ended while this page was away.
    for (const [key, stream] of state.streams) {
      if (!stream.ended && !state.streamsHeard.has(key)) {
        stream.li.remove();
        state.streams.delete(key);
      }
    }
  }

  function renderStream(info) {
    const li = el("li", `message streaming type-${info.msg_type} role-${info.author_role}`);
    li.dataset.stream = streamKey(info.author_id, info.id);
    const head = el("div", "meta");
    const who = el("span", "author");
    who.append(nameNode(info.author_id, "name"));
    if (info.author_id === state.creds.participantId) who.append(" (you)");
    head.append(who, " ", el("span", "role", ROLE[info.author_role] || info.author_role));
    if (info.msg_type !== "chat") head.append(" ", el("span", "kind", info.msg_type));
    head.append(" ", el("span", "writing", "writing…"));
    if (info.parent_id) head.append(" ", el("span", "stamp", `↪ #${info.parent_id}`));
    li.append(head, el("div", "content"));
    return li;
  }

  function showStreamText(stream) {
    stream.li.querySelector(".content").textContent = stream.text;
  }

  function newClientId() {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function sendChat() {
    const input = $("chat-input");
    const error = $("chat-error");
    const text = input.value;
    if (!text.trim()) return;
    if (state.chatDraftText !== text) {  // same text, same id: a retry cannot double-post
      state.chatDraftText = text;
      state.chatDraftId = newClientId();
    }
    error.hidden = true;
    const answer = await request({type: "send", client_msg_id: state.chatDraftId, content: text});
    if (answer.type === "ack") {
      if (input.value === text) input.value = "";
      state.chatDraftText = state.chatDraftId = null;
      return;
    }
    error.textContent = answer.code === "unavailable"
      ? "Not connected right now — your message is kept here; send it again once live."
      : `Not sent: ${answer.message}`;
    error.hidden = false;
  }

  $("chat-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sendChat();
  });
  $("chat-input").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendChat();
    }
  });

  // ---- filtering the messages (over the messages this page has loaded) -----------------

  function matches(m) {
    const f = state.filter;
    if (f.type && m.msg_type !== f.type) return false;
    if (f.author && m.author_id !== f.author) return false;
    return !f.text || m.content.toLowerCase().includes(f.text);
  }

  function applyFilter() {
    state.filter = {
      text: $("filter-text").value.trim().toLowerCase(),
      type: $("filter-type").value,
      author: $("filter-author").value,
    };
    for (const li of $("messages").children) li.hidden = !matches(state.messages.get(Number(li.dataset.id)));
    updateFilterCount();
    updateEmpty();
  }

  function updateFilterCount() {
    const f = state.filter;
    const count = $("filter-count");
    count.hidden = !(f.text || f.type || f.author);
    if (count.hidden) return;
    const shown = [...state.messages.values()].filter(matches).length;
    count.textContent = `Showing ${shown} of ${state.messages.size} messages.`;
  }

  function authorOptions() {
    return new Set([...$("filter-author").options].map((o) => o.value).filter(Boolean));
  }

  function renderAuthorFilter() {
    const select = $("filter-author");
    const chosen = select.value;
    const authors = [...new Set([...state.messages.values()].map((m) => m.author_id))];
    authors.sort((a, b) => nameOf(a).localeCompare(nameOf(b)));
    select.replaceChildren(el("option", null, "Everyone"));
    select.options[0].value = "";
    for (const id of authors) {
      const role = state.roles.get(id);
      const option = el("option", null, `${nameOf(id)}${role ? " · " + (ROLE[role] || role) : ""}`);
      option.value = id;
      select.append(option);
    }
    select.value = authors.includes(chosen) ? chosen : "";
  }

  $("filter").addEventListener("submit", (event) => event.preventDefault());
  $("filter-text").addEventListener("input", applyFilter);
  $("filter-type").addEventListener("change", applyFilter);
  $("filter-author").addEventListener("change", applyFilter);

  // ---- notes --------------------------------------------------------------------------

  function onNote(note) {
    const known = state.notes.get(note.id);
    if (known && known.version >= note.version) return;  // events may trail the snapshot
    state.notes.set(note.id, note);
    renderNote(note);
    updateEmpty();
    scheduleActivity();
  }

  // hello lists notes without content: read the ones this page lacks or has older.
  async function loadNotes(summaries) {
    const stale = summaries.filter((n) => (state.notes.get(n.id)?.version ?? 0) < n.version);
    if (!stale.length) return;
    const base = `/api/sessions/${state.creds.sessionId}/notes`;
    const headers = {Authorization: "Bearer " + state.creds.token};
    const read = async (url) => {
      const response = await fetch(url, {headers}).catch(() => null);
      return response && response.ok ? response.json() : null;
    };
    if (stale.length > 20) {
      const body = await read(base);
      for (const note of body ? body.notes : []) onNote(note);
    } else {
      const notes = await Promise.all(stale.map((n) => read(`${base}/${n.id}`)));
      for (const note of notes) if (note) onNote(note);
    }
  }

  function renderNote(note) {
    let article = $("note-" + note.id);
    if (!article) {
      article = el("article", "note");
      article.id = "note-" + note.id;
      article.innerHTML = `<header><h3></h3><span class="version"></span>
        <button type="button" class="history">History</button>
        <button type="button" class="edit">Edit</button></header>
        <div class="md"></div>
        <div class="editor" hidden>
          <div class="conflict" role="alert" hidden></div>
          <label class="visually-hidden">Edit note</label>
          <textarea rows="8"></textarea>
          <div class="buttons"><button type="button" class="save">Save</button>
          <button type="button" class="cancel">Cancel</button></div>
          <p class="error" role="alert" hidden></p>
        </div>`;
      const id = note.id;
      article.querySelector(".edit").addEventListener("click", () => openEditor(id));
      article.querySelector(".history").addEventListener("click",
        () => openHistory("note", id, `note “${state.notes.get(id).title}”`));
      article.querySelector(".save").addEventListener("click", () => saveNote(id));
      article.querySelector(".cancel").addEventListener("click", () => closeEditor(id));
      const area = article.querySelector("textarea");
      area.id = "note-edit-" + id;
      article.querySelector("label").htmlFor = area.id;
      area.addEventListener("input", () => {
        const editor = state.editors.get(id);
        if (editor) editor.draft = area.value;
      });
      const notes = $("notes");
      const after = [...notes.children].find((a) => Number(a.id.slice(5)) > id);
      notes.insertBefore(article, after || null);
    }
    article.querySelector("h3").textContent = note.title;
    article.querySelector(".version").replaceChildren(
      `v${note.version} · `, nameNode(note.last_editor, "name"), " · ", timeNode(note.updated_at));
    renderMarkdown(article.querySelector(".md"), note.content, "notes");
  }

  function openEditor(id) {
    const note = state.notes.get(id);
    const article = $("note-" + id);
    state.editors.set(id, {draft: note.content, base: note.version});
    const area = article.querySelector("textarea");
    area.value = note.content;
    article.querySelector(".editor").hidden = false;
    article.querySelector(".conflict").hidden = true;
    article.querySelector(".edit").hidden = true;
    area.focus();
  }

  function closeEditor(id) {
    state.editors.delete(id);
    const article = $("note-" + id);
    article.querySelector(".editor").hidden = true;
    article.querySelector(".edit").hidden = false;
    article.querySelector(".edit").focus();
  }

  async function saveNote(id) {
    const editor = state.editors.get(id);
    const article = $("note-" + id);
    const error = article.querySelector(".error");
    error.hidden = true;
    const answer = await request({
      type: "update_note", note_id: id, content: editor.draft, expected_version: editor.base,
    });
    if (answer.type === "ack") {
      onNote(answer.note);
      closeEditor(id);
      return;
    }
    if (answer.code === "conflict" && answer.note) {
      onNote(answer.note);
      editor.base = answer.note.version;  // the next save knowingly replaces this version
      const box = article.querySelector(".conflict");
      const headline = el("strong", null,
        `This note changed while you were editing (now v${answer.note.version} by `);
      headline.append(nameNode(answer.note.last_editor, "name"), ").");
      box.replaceChildren(
        headline,
        el("p", null, "Your text is kept below. The current version is shown above. " +
          "Merge what you need, then save again to replace it — or cancel."),
      );
      box.hidden = false;
      article.querySelector(".save").textContent = "Save my version";
      article.querySelector("textarea").focus();
      return;
    }
    error.textContent = answer.code === "unavailable"
      ? "Not connected right now — your text is kept; save again once live."
      : `Not saved: ${answer.message}`;
    error.hidden = false;
  }

  // ---- files --------------------------------------------------------------------------

  function onFile(file) {
    state.files.set(file.path, file);
    renderFiles();
    if (state.openFile === file.path && file.content !== undefined) showFile(file.path, file.content);
    scheduleActivity();
  }

  function renderFiles() {
    const list = $("files");
    list.replaceChildren();
    for (const file of [...state.files.values()].sort((a, b) => a.path.localeCompare(b.path))) {
      const item = el("li");
      const open = el("button", "link", file.path);
      open.type = "button";
      open.addEventListener("click", () => openFile(file.path));
      const size = el("span", "size", ` ${file.size} B · `);
      size.append(nameNode(file.last_editor, "name"), " · ", timeNode(file.updated_at));
      item.append(open, size);
      list.append(item);
    }
    updateEmpty();
  }

  async function openFile(path) {
    state.openFile = path;
    const url = `/api/sessions/${state.creds.sessionId}/files/` +
      path.split("/").map(encodeURIComponent).join("/");
    const response = await fetch(url, {headers: {Authorization: "Bearer " + state.creds.token}});
    const body = await response.json().catch(() => ({}));
    showFile(path, response.ok ? body.content : `(${body.message || "could not load this file"})`);
  }

  function showFile(path, content) {
    $("file-view").hidden = false;
    $("file-view-path").textContent = path;
    $("file-view-content").textContent = content;
  }

  $("file-history").addEventListener("click", () => {
    if (state.openFile) openHistory("file", state.openFile, state.openFile);
  });

  // ---- history of a note or a file ----------------------------------------------------
  // Every version is kept: the dialog lists them newest first; choosing one shows its
  // text and what changed from the version before (a unified diff).

  const pathUrl = (path) => path.split("/").map(encodeURIComponent).join("/");

  function historyUrls(kind, key) {
    const base = `/api/sessions/${state.creds.sessionId}`;
    if (kind === "note") {
      return {
        list: `${base}/notes/${key}/versions?limit=200`,
        one: (v) => `${base}/notes/${key}/versions/${v}`,
        diff: (a, b) => `${base}/notes/${key}/diff?from=${a}&to=${b}`,
      };
    }
    return {
      list: `${base}/file-versions/${pathUrl(key)}?limit=200`,
      one: (v) => `${base}/file-version/${v}/${pathUrl(key)}`,
      diff: (a, b) => `${base}/file-diff/${pathUrl(key)}?from=${a}&to=${b}`,
    };
  }

  async function readJSON(url) {
    const response = await fetch(url, {headers: {Authorization: "Bearer " + state.creds.token}})
      .catch(() => null);
    return response && response.ok ? response.json() : null;
  }

  async function openHistory(kind, key, label) {
    const urls = historyUrls(kind, key);
    const dialog = $("history");
    $("history-title").textContent = `History of ${label}`;
    const list = $("history-versions");
    list.replaceChildren();
    $("history-content").textContent = "";
    $("history-version-title").textContent = "";
    $("history-diff").hidden = $("history-diff-title").hidden = true;
    if (!dialog.open) dialog.showModal();
    const page = await readJSON(urls.list);
    if (!page) {
      $("history-content").textContent = "The history could not be read.";
      return;
    }
    for (const v of page.versions) {
      const item = el("li");
      const pick = el("button", "link", `v${v.version}`);
      pick.type = "button";
      pick.setAttribute("aria-label", `Version ${v.version}`);
      pick.addEventListener("click", () => showVersion(urls, v, pick));
      const about = el("div", "meta");
      about.append(timeNode(v.created_at), ` · after message #${v.at_message_id} · ${v.size} chars`);
      item.append(pick, " by ", nameNode(v.editor, "name"), about);
      list.append(item);
    }
    const newest = list.querySelector("button");
    if (newest) newest.click();
  }

  async function showVersion(urls, v, button) {
    for (const b of $("history-versions").querySelectorAll("button")) b.removeAttribute("aria-current");
    button.setAttribute("aria-current", "true");
    $("history-version-title").textContent = `Version ${v.version}`;
    const [one, diff] = await Promise.all([
      readJSON(urls.one(v.version)),
      v.version > 1 ? readJSON(urls.diff(v.version - 1, v.version)) : null,
    ]);
    $("history-content").textContent = one ? one.content : "(could not be read)";
    const box = $("history-diff");
    $("history-diff-title").textContent = `Changes from version ${v.version - 1}`;
    box.hidden = $("history-diff-title").hidden = !diff;
    box.replaceChildren();
    if (!diff) return;
    if (diff.title) box.append(el("span", "del", `title: ${diff.title.from}\n`),
      el("span", "add", `title: ${diff.title.to}\n`));
    for (const line of diff.diff) {
      const kind = line.startsWith("@@") ? "hunk" : line.startsWith("+") && !line.startsWith("+++") ? "add"
        : line.startsWith("-") && !line.startsWith("---") ? "del" : null;
      box.append(el("span", kind, line.endsWith("\n") ? line : line + "\n"));
    }
    if (!diff.diff.length && !diff.title) box.append("No changes.");
  }

  $("history-close").addEventListener("click", () => $("history").close());

  // ---- presence -----------------------------------------------------------------------

  function onPresence(p) {
    state.presence.set(p.participant_id, p);
    learn(p.participant_id, p.role, p.display_name);
    renderPresence();
  }

  // While disconnected the page cannot know who is here: it says so and greys out the
  // last known list until the next hello replaces it.
  function setPresenceKnown(known) {
    $("presence-panel").classList.toggle("stale", !known);
    $("presence-unknown").hidden = known;
    renderPresence();
  }

  function renderPresence() {
    const list = $("presence");
    const known = $("presence-unknown").hidden;
    list.replaceChildren();
    const order = {agent_a: 0, agent_b: 1, observer: 2};
    const people = [...state.presence.values()].sort(
      (a, b) => order[a.role] - order[b.role] || a.participant_id.localeCompare(b.participant_id));
    for (const p of people) {
      const item = el("li", "status-" + (known ? p.status : "unknown"));
      item.dataset.participant = p.participant_id;
      item.append(el("span", "dot", ""), nameNode(p.participant_id, "who"),
        " ", el("span", "role", ROLE[p.role] || p.role),
        " ", el("span", "state", known ? p.status : `${p.status}?`));
      if (p.participant_id === state.creds.participantId) item.append(" ", el("span", "role", "(you)"));
      if (p.activity && known) item.append(" ", el("span", "doing", p.activity));
      list.append(item);
    }
    updateEmpty();
  }

  // ---- activity -----------------------------------------------------------------------

  function noteTitle(noteId) {
    const note = state.notes.get(noteId);
    return note ? `“${note.title}”` : `#${noteId}`;
  }

  // What happened, in words: "Agent B (bee) joined", "Observer (Ada) edited note “Plan”".
  const ACTIONS = {
    "session.created": (d) => `created the session${d.name ? ` “${d.name}”` : ""}`,
    "agent_b.joined": () => "joined",
    "observer.joined": () => "joined to watch",
    "session.updated": (d) => [
      d.status ? `set the session to ${d.status}` : "",
      d.name ? `renamed the session to “${d.name}”` : "",
    ].filter(Boolean).join(" and ") || "changed the session",
    "session.deleted": () => "deleted the session",
    "session.moved": (d) => d.to ? "moved the session into a space" : "took the session out of its space",
    "invite.rotated": () => "made a new invite code",
    "message.sent": (d) => {
      const ids = d.message_ids || [];
      return ids.length === 1 ? `sent message #${ids[0]}` : `sent messages #${ids.join(", #")}`;
    },
    "approval.decided": (d) => d.decision === "expired"
      ? `marked request #${d.message_id} expired (not decided in time)`
      : `${d.decision} request #${d.message_id}`,
    "session.interrupted": (d) => `interrupted ${nameOf(d.target_id)}${d.reason ? `: ${clip(d.reason, 120)}` : ""}`,
    "note.created": (d) => `created note ${noteTitle(d.note_id)}`,
    "note.updated": (d) => `edited note ${noteTitle(d.note_id)}${d.version ? ` (v${d.version})` : ""}`,
    "file.written": (d) => `wrote ${d.path}`,
    "attachment.uploaded": (d) => `uploaded “${d.name}” (${sizeText(d.size || 0)})`,
    "artifact.created": (d) => `made ${KIND_WORD[d.kind] || d.kind} #${d.artifact_id} on message #${d.message_id}`,
    "artifact.updated": (d) => `updated artifact #${d.artifact_id} (v${d.version})`,
    "session.forked": (d) => `forked the session at message #${d.at_message_id}`,
    "session.forked_from": (d) => `made this session as a fork, at message #${d.at_message_id}`,
    "webhook.created": () => "registered a webhook",
    "webhook.updated": () => "changed a webhook",
    "webhook.deleted": () => "removed a webhook",
    "webhook.secret_rotated": () => "rotated a webhook's secret",
    "webhook.redelivered": () => "asked a webhook's events again",
  };

  Object.assign(ACTIONS, window.HubCompute.ACTIONS);

  const KIND_WORD = {canvas3d: "a 3D scene", pipeline: "a pipeline", table: "a table", image: "an image",
    json: "a JSON result"};

  function clip(text, length) {
    return text.length > length ? text.slice(0, length - 1) + "…" : text;
  }

  function describe(row) {
    const words = ACTIONS[row.action];
    return words ? words(row.detail || {}) : row.action.replace(/[._]/g, " ");
  }

  function scheduleActivity() {
    if (state.activityTimer) return;
    state.activityTimer = setTimeout(() => {
      state.activityTimer = null;
      refreshActivity();
    }, 400);
  }

  async function refreshActivity() {
    const url = `/api/sessions/${state.creds.sessionId}/activity?after=${state.activityAfter}&limit=200`;
    const response = await fetch(url, {headers: {Authorization: "Bearer " + state.creds.token}})
      .catch(() => null);
    if (!response || !response.ok) return;
    const body = await response.json();
    const list = $("activity");
    for (const row of body.activity) {
      if (row.id <= state.activityAfter) continue;
      state.activityAfter = row.id;
      if (row.action === "session.forked") scheduleForks();
      if (row.action === "session.pool_set") compute.poolChanged();
      if (row.action === "observer.joined") learn(row.actor_id, "observer", row.detail.display_name);
      else learn(row.actor_id, row.actor_role, null);
      const item = el("li", null);
      item.append(timeNode(row.created_at, "stamp"), " ", nameNode(row.actor_id, "who", row.actor_role),
        " ", el("span", "what", describe(row)));
      list.prepend(item);
    }
    while (list.children.length > 100) list.lastChild.remove();
    updateEmpty();
  }

  // ---- forks: where this session came from, and the sessions forked from it --------------

  let forksTimer = null;
  function scheduleForks() {
    clearTimeout(forksTimer);
    forksTimer = setTimeout(refreshForks, 200);
  }

  async function refreshForks() {
    const session = state.session;
    if (!session) return;
    const origin = $("fork-origin");
    origin.hidden = !session.forked_from;
    if (session.forked_from) {
      origin.textContent = `Forked from ${session.forked_from} at message #${session.forked_at_message_id}.`;
    }
    const url = `/api/sessions/${state.creds.sessionId}/forks?limit=20`;
    const response = await fetch(url, {headers: {Authorization: "Bearer " + state.creds.token}})
      .catch(() => null);
    const forks = response && response.ok ? (await response.json()).forks : [];
    const list = $("forks");
    list.textContent = "";
    for (const f of forks) {
      const item = el("li");
      item.append(el("span", "name", f.name), ` at message #${f.at_message_id} · `,
        timeNode(f.created_at), el("span", "meta", ` ${f.id}`));
      list.append(item);
    }
    $("forks-panel").hidden = !forks.length && !session.forked_from;
  }

  // ---- boot ---------------------------------------------------------------------------

  function boot() {
    const watching = /^\/watch\/([^/]+)\/?$/.exec(location.pathname);
    if (watching) { watchOwn(decodeURIComponent(watching[1])); return; }
    const match = /^\/join\/([^/]+)\/?$/.exec(location.pathname);
    const remembered = saved();
    if (match) {
      const code = normalizeCode(decodeURIComponent(match[1]));
      if (remembered && remembered.code === code) start(remembered);
      else showJoin(code, "");  // ask for a name first: the invite link alone never joins
      return;
    }
    showJoin("", "");
    if (remembered && remembered.code) $("join-code").value = remembered.code;
  }

  boot();
})();