// The observer page: redeem an invite, then follow the session live over the websocket,
// resuming with `since` after any drop so the history stays complete and ordered.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const STORE_KEY = "hub.observer";  // sessionStorage: this tab only, never a cookie

  const state = {
    creds: null,          // {code, token, sessionId, participantId, name}
    ws: null,
    lastId: 0,            // highest message id shown
    attempt: 0,
    closedForGood: false,
    live: false,
    refs: 0,
    pending: new Map(),   // ref -> resolve(answer)
    messages: new Map(),  // id -> message
    notes: new Map(),     // id -> note
    editors: new Map(),   // note id -> {draft, base, conflict}
    files: new Map(),     // path -> file info
    openFile: null,
    presence: new Map(),  // participant id -> presence
    activityAfter: 0,
    activityTimer: null,
    chatDraftId: null,    // client_msg_id reused until the text is acked or changed
    chatDraftText: null,
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

  const JOIN_ERRORS = {
    invite_invalid: "No session has that invite code. Check it and try again.",
    invite_expired: "That invite code has expired. Ask the agents' owner for a new one.",
    rate_limited: "Too many attempts from here. Wait a minute, then try again.",
    session_deleted: "That session was deleted.",
  };

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

  async function join(code, name) {
    const error = $("join-error");
    error.hidden = true;
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

  function showJoin(code, message) {
    show("join-view");
    if (code) $("join-code").value = code;
    const error = $("join-error");
    error.textContent = message || "";
    error.hidden = !message;
    $("join-code").focus();
  }

  $("join-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const code = $("join-code").value;
    if (code.trim()) join(code, $("join-name").value.trim());
  });

  // ---- the live connection ------------------------------------------------------------

  function start(creds) {
    state.creds = creds;
    show("session-view");
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
    switch (frame.type) {
      case "hello": return onHello(frame);
      case "message": return onMessage(frame.message);
      case "resumed":
        state.live = true;
        state.attempt = 0;
        setConnection("Live", "ok");
        return;
      case "note": return onNote(frame.note);
      case "file": return onFile(frame.file);
      case "presence": return onPresence(frame.presence);
      case "session": return onSession(frame.session, frame.deleted);
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
    onSession(frame.session, false);
    state.presence.clear();
    for (const p of frame.presence) state.presence.set(p.participant_id, p);
    renderPresence();
    loadNotes(frame.notes);
    state.files.clear();
    for (const f of frame.files) state.files.set(f.path, f);
    renderFiles();
    refreshActivity();
  }

  // ---- session header -----------------------------------------------------------------

  function onSession(session, deleted) {
    if (deleted) {
      fatal("This session was deleted.");
      return;
    }
    $("session-name").textContent = session.name;
    document.title = session.name + " — Hub";
    const status = $("session-status");
    status.textContent = session.status;
    status.className = "badge status-" + session.status;
    $("session-mode").textContent = session.mode;
    scheduleActivity();
  }

  // ---- messages -----------------------------------------------------------------------

  const ROLE = {agent_a: "Agent A", agent_b: "Agent B", observer: "Observer", system: "System"};

  function timeOf(iso) {
    const d = new Date(iso);
    return isNaN(d) ? "" : d.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit", second: "2-digit"});
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function onMessage(m) {
    if (m.id <= state.lastId) return;  // already shown: resumes overlap, never duplicate
    state.lastId = m.id;
    state.messages.set(m.id, m);
    const list = $("messages");
    const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
    list.appendChild(renderMessage(m));
    if (nearBottom) list.scrollTop = list.scrollHeight;
    scheduleActivity();
  }

  function renderMessage(m) {
    const li = el("li", `message type-${m.msg_type} role-${m.author_role}`);
    li.id = "msg-" + m.id;
    li.dataset.id = m.id;
    const head = el("div", "meta");
    const who = nameOf(m.author_id) + (m.author_id === state.creds.participantId ? " (you)" : "");
    head.append(el("span", "author", who), el("span", "role", ROLE[m.author_role] || m.author_role));
    if (m.msg_type !== "chat") head.append(el("span", "kind", m.msg_type));
    const stamp = el("a", "stamp", `#${m.id} · ${timeOf(m.created_at)}`);
    stamp.href = "#msg-" + m.id;
    head.append(stamp);
    li.append(head);
    if (m.parent_id) {
      const parent = state.messages.get(m.parent_id);
      const reply = el("a", "reply");
      reply.href = "#msg-" + m.parent_id;
      const snippet = parent ? parent.content.slice(0, 80) + (parent.content.length > 80 ? "…" : "") : "";
      reply.textContent = `↪ in reply to #${m.parent_id}${snippet ? ": " + snippet : ""}`;
      li.append(reply);
    }
    const content = el("div", "content", m.content);
    li.append(content);
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
    if (m.metadata && Object.keys(m.metadata).length) {
      const details = el("details", "metadata");
      details.append(el("summary", null, "metadata"), el("pre", null, JSON.stringify(m.metadata, null, 2)));
      li.append(details);
    }
    return li;
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

  // ---- notes --------------------------------------------------------------------------

  function onNote(note) {
    const known = state.notes.get(note.id);
    if (known && known.version >= note.version) return;  // events may trail the snapshot
    state.notes.set(note.id, note);
    renderNote(note);
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
    article.querySelector(".version").textContent = `v${note.version} · ${note.last_editor}`;
    article.querySelector(".md").innerHTML = window.renderMarkdown(note.content);
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
      box.innerHTML = "";
      box.append(
        el("strong", null, `This note changed while you were editing (now v${answer.note.version} by ${answer.note.last_editor}).`),
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
    list.innerHTML = "";
    for (const file of [...state.files.values()].sort((a, b) => a.path.localeCompare(b.path))) {
      const item = el("li");
      const open = el("button", "link", file.path);
      open.type = "button";
      open.addEventListener("click", () => openFile(file.path));
      item.append(open, el("span", "size", ` ${file.size} B · ${file.last_editor}`));
      list.append(item);
    }
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

  // ---- presence -----------------------------------------------------------------------

  function onPresence(p) {
    state.presence.set(p.participant_id, p);
    renderPresence();
  }

  function nameOf(participantId) {
    const p = state.presence.get(participantId);
    return (p && p.display_name) || participantId;
  }

  function renderPresence() {
    const list = $("presence");
    list.innerHTML = "";
    const order = {agent_a: 0, agent_b: 1, observer: 2};
    const people = [...state.presence.values()].sort(
      (a, b) => order[a.role] - order[b.role] || a.participant_id.localeCompare(b.participant_id));
    for (const p of people) {
      const item = el("li", "status-" + p.status);
      item.dataset.participant = p.participant_id;
      item.append(el("span", "dot", ""), el("span", "who", nameOf(p.participant_id)),
        el("span", "role", ROLE[p.role] || p.role), el("span", "state", p.status));
      if (p.activity) item.append(el("span", "doing", p.activity));
      list.append(item);
    }
  }

  // ---- activity -----------------------------------------------------------------------

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
      state.activityAfter = Math.max(state.activityAfter, row.id);
      const detail = row.detail.message_ids ? `#${row.detail.message_ids.join(", #")}`
        : row.detail.path || row.detail.status || row.detail.name || "";
      const item = el("li", null);
      item.append(el("span", "stamp", timeOf(row.created_at)), el("span", "who", nameOf(row.actor_id)),
        el("span", "what", row.action.replace(".", " ")), el("span", "detail", detail));
      list.prepend(item);
    }
    while (list.children.length > 100) list.lastChild.remove();
  }

  // ---- boot ---------------------------------------------------------------------------

  function boot() {
    const match = /^\/join\/([^/]+)\/?$/.exec(location.pathname);
    const remembered = saved();
    if (match) {
      const code = normalizeCode(decodeURIComponent(match[1]));
      if (remembered && remembered.code === code) start(remembered);
      else join(code, remembered ? remembered.name : null);
      return;
    }
    showJoin(remembered ? remembered.code : "", "");
  }

  boot();
})();
