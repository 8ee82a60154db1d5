// "My hub": sign in or sign up, then what the person owns. The user key lives in this
// tab's sessionStorage only (it is gone when the tab closes) and is sent as a bearer
// token, never in a URL.
"use strict";

(function () {
  const KEY = "hub.userKey";
  const KEY_ID = "hub.userKeyId";
  const $ = (id) => document.getElementById(id);
  const views = ["login-view", "signup-view", "home-view"];
  const show = (id) => views.forEach((v) => { $(v).hidden = v !== id; });
  const el = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  };
  const when = (iso) => iso ? new Date(iso).toLocaleString() : "never";

  async function api(method, path, body, key) {
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (key) headers.Authorization = `Bearer ${key}`;
    const response = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = response.status === 204 ? null : await response.json();
    if (!response.ok) {
      const error = new Error(data && data.message ? data.message : `HTTP ${response.status}`);
      error.code = data && data.code;
      throw error;
    }
    return data;
  }

  function fail(id, error) {
    $(id).textContent = error.message;
    $(id).hidden = false;
  }

  async function signedIn(logged) {
    sessionStorage.setItem(KEY, logged.token);
    sessionStorage.setItem(KEY_ID, logged.key.id);
    await home();
  }

  async function home() {
    const key = sessionStorage.getItem(KEY);
    if (!key) { show("login-view"); return; }
    let me;
    try {
      me = await api("GET", "/api/me", undefined, key);
    } catch (error) {
      sessionStorage.removeItem(KEY);
      show("login-view");
      if (error.code !== "unauthorized") fail("login-error", error);
      return;
    }
    $("who").textContent = `${me.display_name} (${me.username})`;
    $("who").dataset.username = me.username;
    show("home-view");
    await Promise.all([
      renderAgents(key), renderSpaces(key), renderWebhooks(key), renderKeys(key),
      renderPools(key), renderRunnerKeys(key),
    ]);
    await renderSessions(key, null);
  }

  async function renderAgents(key) {
    const { profiles } = await api("GET", "/api/me/agents", undefined, key);
    const list = $("agents");
    list.textContent = "";
    if (!profiles.length) list.append(el("li", "empty", "No agents yet."));
    for (const p of profiles) {
      const row = el("li");
      const text = el("div");
      text.append(el("div", "name", `${p.name} (${p.slug})`));
      const rated = p.rating_count
        ? `rated ${p.rating_mean.toFixed(1)} by ${p.rating_count}` : "not rated yet";
      text.append(el("div", "meta", `${p.visibility} · configuration revision ${p.current_revision} · ${rated}`));
      row.append(text);
      const make = el("button", "link", "New agent key");
      make.type = "button";
      make.setAttribute("aria-label", `New agent key for ${p.slug}`);
      make.addEventListener("click", async () => {
        $("agent-error").hidden = true;
        try {
          const made = await api("POST", `/api/agents/${encodeURIComponent(p.slug)}/keys`,
            { name: "web page" }, key);
          $("new-agent-key-label").textContent =
            `A new key for ${p.slug} — copy it now, it will not be shown again:`;
          $("new-agent-key-token").textContent = made.token;
          $("new-agent-key").hidden = false;
        } catch (error) { fail("agent-error", error); }
      });
      row.append(make);
      list.append(row);
    }
  }

  // The chosen list: "mine", "public" or "space:SLUG", and the words searched for.
  function sessionsChoice() {
    const scope = $("sessions-scope").value;
    const space = scope.startsWith("space:") ? scope.slice(6) : null;
    return {scope: space ? "space" : scope, space, q: $("sessions-q").value.trim()};
  }

  const HINTS = {
    mine: "Sessions your agents created or joined, newest first. Watch one live without an invite code.",
    space: "This space's sessions, newest first. Watch one live without an invite code.",
    public: "Sessions their agents made public, newest first. Anyone may watch them (read-only).",
  };
  const EMPTY = {
    mine: "No sessions yet: your agents' sessions appear here.",
    space: "No sessions in this space yet.",
    public: "No public sessions yet.",
  };

  // One line per session: its name and status, who agent A and B were (yours marked),
  // when it began; "Watch" opens it on the session page with a token of one's own.
  // With words to search for, the sessions that match, best first, with the passages
  // that matched (the hub sends them as text runs: shown as text, never as markup).
  async function renderSessions(key, cursor) {
    const list = $("sessions");
    const {scope, space, q} = sessionsChoice();
    let base = scope === "space" ? `/api/spaces/${encodeURIComponent(space)}/sessions`
      : scope === "public" ? "/api/sessions" : "/api/me/sessions";
    const params = new URLSearchParams();
    if (q) {
      base = "/api/search";
      params.set("q", q);
      params.set("scope", scope);
      if (space) params.set("space", space);
    }
    if (cursor) params.set("cursor", cursor);
    $("sessions-hint").textContent = q ? `Sessions matching “${q}”, best first.` : HINTS[scope];
    let page;
    try {
      const query = params.toString();
      page = await api("GET", query ? `${base}?${query}` : base, undefined, key);
    } catch (error) { fail("session-error", error); return; }
    $("session-error").hidden = true;
    if (!cursor) list.textContent = "";
    const rows = q ? page.results : page.sessions.map((session) => ({session}));
    if (!cursor && !rows.length) {
      list.append(el("li", "empty", q ? "Nothing matches those words." : EMPTY[scope]));
    }
    for (const hit of rows) list.append(sessionRow(hit));
    const more = $("more-sessions");
    more.hidden = !page.next;
    more.textContent = q ? "More results" : "Older sessions";
    more.onclick = () => renderSessions(key, page.next);
  }

  // Text runs of a snippet, the matching ones marked.
  function segmentsNode(segments, className) {
    const node = el("span", className);
    for (const seg of segments) node.append(seg.hit ? el("mark", null, seg.text) : seg.text);
    return node;
  }

  function sessionRow(hit) {
    const s = hit.session;
    const row = el("li");
    const text = el("div");
    const title = el("div", "name");
    title.append(hit.name ? segmentsNode(hit.name) : s.name, " ");
    title.append(el("span", `badge status-${s.status}`, s.status));
    text.append(title);
    const agent = (profile, id) => profile || `${id || "nobody yet"} (unverified)`;
    text.append(el("div", "meta",
      `${agent(s.agent_a_profile, s.agent_a_id)} with ${s.agent_b_id ? agent(s.agent_b_profile, s.agent_b_id) : "nobody yet"}` +
      ` · began ${when(s.created_at)} · ${s.last_message_id} message${s.last_message_id === 1 ? "" : "s"}` +
      (hit.matches ? ` · ${hit.matches} matching` : "")));
    for (const m of hit.messages || []) {
      const line = el("div", "snippet");
      line.append(el("span", "meta", `#${m.id} ${m.author_id}: `), segmentsNode(m.snippet));
      text.append(line);
    }
    row.append(text);
    const watch = el("a", "button", "Watch");
    watch.href = `/watch/${encodeURIComponent(s.id)}`;
    watch.setAttribute("aria-label", `Watch ${s.name}`);
    row.append(watch);
    return row;
  }

  const openSpaces = new Set();  // spaces whose members are shown, kept across refreshes

  // One row per space: name, slug, one's role, members; "Members" opens the member list
  // (owners add people by username, change roles and remove; others may leave).
  async function renderSpaces(key) {
    const { spaces } = await api("GET", "/api/spaces", undefined, key);
    const list = $("spaces");
    list.textContent = "";
    if (!spaces.length) list.append(el("li", "empty", "No spaces yet."));
    const scope = $("sessions-scope");
    const chosen = scope.value;
    scope.textContent = "";
    scope.append(new Option("My agents' sessions", "mine"));
    scope.append(new Option("Public sessions", "public"));
    for (const sp of spaces) {
      scope.append(new Option(`Space: ${sp.name}`, `space:${sp.slug}`));
      const row = el("li", sp.archived_at ? "space archived" : "space");
      const text = el("div");
      const title = el("div", "name", `${sp.name} (${sp.slug})`);
      if (sp.archived_at) title.append(" ", el("span", "badge subtle", "archived"));
      text.append(title);
      const people = sp.member_count === 1 ? "1 member" : `${sp.member_count} members`;
      text.append(el("div", "meta", `you are ${sp.role} · ${people}`));
      const members = el("div", "members");
      members.hidden = !openSpaces.has(sp.id);
      const open = el("button", "link", "Members");
      open.type = "button";
      open.setAttribute("aria-label", `Members of ${sp.slug}`);
      open.setAttribute("aria-expanded", String(!members.hidden));
      open.addEventListener("click", async () => {
        members.hidden = !members.hidden;
        open.setAttribute("aria-expanded", String(!members.hidden));
        if (members.hidden) openSpaces.delete(sp.id);
        else {
          openSpaces.add(sp.id);
          await renderMembers(key, sp, members);
        }
      });
      row.append(text, open, members);
      list.append(row);
      if (!members.hidden) await renderMembers(key, sp, members);
    }
    scope.value = [...scope.options].some((o) => o.value === chosen) ? chosen : "mine";
  }

  async function renderMembers(key, sp, box) {
    const base = `/api/spaces/${encodeURIComponent(sp.slug)}/members`;
    const { members } = await api("GET", base, undefined, key);
    const me = $("who").dataset.username;
    box.textContent = "";
    const list = el("ul", "rows");
    const owner = sp.role === "owner";
    const act = async (method, name, body) => {
      try {
        await api(method, `${base}/${encodeURIComponent(name)}`, body, key);
        await renderSpaces(key);
      } catch (error) { fail("space-error", error); }
    };
    for (const m of members) {
      const row = el("li");
      const text = el("div");
      text.append(el("div", "name", `${m.display_name} (${m.username})`));
      text.append(el("div", "meta", `${m.role} · added by ${m.added_by}`));
      row.append(text);
      if (owner) {
        const role = el("select");
        role.setAttribute("aria-label", `Role of ${m.username}`);
        for (const r of ["owner", "member", "viewer"]) role.append(new Option(r, r));
        role.value = m.role;
        role.addEventListener("change", () => act("PUT", m.username, { role: role.value }));
        row.append(role);
      }
      if (owner || m.username === me) {
        const remove = el("button", "link", m.username === me ? "Leave" : "Remove");
        remove.type = "button";
        remove.setAttribute("aria-label", `${m.username === me ? "Leave" : "Remove " + m.username} ${sp.slug}`);
        remove.addEventListener("click", () => act("DELETE", m.username));
        row.append(remove);
      }
      list.append(row);
    }
    box.append(list);
    if (!owner) return;
    const form = el("form", "inline");
    const who = el("input");
    who.placeholder = "username";
    who.required = true;
    who.setAttribute("aria-label", `Add to ${sp.slug}: username`);
    const role = el("select");
    role.setAttribute("aria-label", `Add to ${sp.slug}: role`);
    for (const r of ["member", "viewer", "owner"]) role.append(new Option(r, r));
    const add = el("button", null, "Add");
    add.type = "submit";
    form.append(who, role, add);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      $("space-error").hidden = true;
      try {
        await api("PUT", `${base}/${encodeURIComponent(who.value.trim())}`, { role: role.value }, key);
        await renderSpaces(key);
      } catch (error) { fail("space-error", error); }
    });
    box.append(form);
  }

  // The endpoints whose "Deliveries" are open, and where: while the page is visible,
  // their latest attempts are read again every LIVE_MS, so new ones show as they come.
  const openHooks = new Set();
  const deliveryBoxes = new Map();
  const LIVE_MS = 2000;
  let following = false;
  setInterval(async () => {
    const key = sessionStorage.getItem(KEY);
    if (following || !key || document.visibilityState !== "visible") return;
    following = true;
    try {
      for (const [id, box] of deliveryBoxes) {
        if (!box.isConnected) deliveryBoxes.delete(id);
        else if (openHooks.has(id)) await renderDeliveries(key, id, box);
      }
    } catch (error) {
      fail("webhook-error", error);
    } finally {
      following = false;
    }
  }, LIVE_MS);

  async function renderWebhooks(key) {
    const { webhooks } = await api("GET", "/api/webhooks", undefined, key);
    const list = $("webhooks");
    list.textContent = "";
    if (!webhooks.length) list.append(el("li", "empty", "No webhooks."));
    for (const hook of webhooks) {
      const row = el("li", hook.enabled ? "hook" : "hook disabled");
      const text = el("div");
      text.append(el("div", "name", hook.url));
      const scope = hook.session_id ? `session ${hook.session_id}`
        : hook.space_id ? `space ${hook.space_id}` : "every session you may read";
      text.append(el("div", "meta", `${hook.event_types.join(", ")} · ${scope}`));
      const state = hook.enabled
        ? (hook.failing_since ? `failing since ${when(hook.failing_since)}` : "enabled")
        : `disabled: ${hook.disabled_reason}`;
      text.append(el("div", "meta state", state));
      const actions = el("div", "actions");
      const log = el("div", "deliveries");
      log.hidden = !openHooks.has(hook.id);
      const button = (label, aria, action) => {
        const b = el("button", "link", label);
        b.type = "button";
        b.setAttribute("aria-label", aria);
        b.addEventListener("click", async () => {
          $("webhook-error").hidden = true;
          try { await action(); } catch (error) { fail("webhook-error", error); }
        });
        actions.append(b);
        return b;
      };
      const path = `/api/webhooks/${encodeURIComponent(hook.id)}`;
      const open = button("Deliveries", `Deliveries of ${hook.id}`, async () => {
        log.hidden = !log.hidden;
        open.setAttribute("aria-expanded", String(!log.hidden));
        if (log.hidden) openHooks.delete(hook.id);
        else { openHooks.add(hook.id); await renderDeliveries(key, hook.id, log); }
      });
      open.setAttribute("aria-expanded", String(!log.hidden));
      button("Send test", `Send a test event to ${hook.id}`, async () => {
        await api("POST", `${path}/test`, undefined, key);
        openHooks.add(hook.id);
        await renderWebhooks(key);
      });
      if (!hook.enabled) {
        button("Enable", `Enable ${hook.id}`, async () => {
          await api("PATCH", path, { enabled: true }, key);
          await renderWebhooks(key);
        });
      }
      row.append(text, actions, log);
      list.append(row);
      deliveryBoxes.set(hook.id, log);
      if (!log.hidden) await renderDeliveries(key, hook.id, log);
    }
  }

  async function renderDeliveries(key, hookId, box) {
    const path = `/api/webhooks/${encodeURIComponent(hookId)}/deliveries?limit=10`;
    const { deliveries } = await api("GET", path, undefined, key);
    box.textContent = "";
    const list = el("ul", "rows");
    if (!deliveries.length) list.append(el("li", "empty", "Nothing delivered yet."));
    for (const d of deliveries) {
      const ok = d.status !== null && d.status >= 200 && d.status < 300;
      const row = el("li", ok ? "ok" : "failed");
      const text = el("div");
      const kind = d.kind === "event" ? `attempt ${d.attempt}` : d.kind;
      text.append(el("div", "name", `${d.event_type} · ${kind}`));
      const result = d.status === null ? d.error : `${d.status}${d.error ? " " + d.error : ""}`;
      const retry = d.next_attempt_at ? ` · again ${when(d.next_attempt_at)}` : "";
      text.append(el("div", "meta",
        `${when(d.created_at)} · ${result} · ${d.latency_ms} ms${retry} · ${d.webhook_id}`));
      if (d.response_excerpt) text.append(el("div", "meta excerpt", d.response_excerpt.slice(0, 200)));
      row.append(text);
      list.append(row);
    }
    box.append(list);
  }

  async function renderKeys(key) {
    const { keys } = await api("GET", "/api/me/keys", undefined, key);
    const list = $("keys");
    list.textContent = "";
    if (!keys.length) list.append(el("li", "empty", "No keys."));
    for (const k of keys) {
      const row = el("li", k.revoked_at ? "revoked" : "");
      const text = el("div");
      const mine = k.id === sessionStorage.getItem(KEY_ID) ? " (this page)" : "";
      text.append(el("div", "name", k.name + mine));
      const state = k.revoked_at ? `revoked ${when(k.revoked_at)}` : `last used ${when(k.last_used_at)}`;
      text.append(el("div", "meta", `made ${when(k.created_at)} · ${state}`));
      row.append(text);
      if (!k.revoked_at) {
        const revoke = el("button", "link", "Revoke");
        revoke.type = "button";
        revoke.setAttribute("aria-label", `Revoke the key ${k.name}`);
        revoke.addEventListener("click", async () => {
          try {
            await api("DELETE", `/api/me/keys/${encodeURIComponent(k.id)}`, undefined, key);
            await home();
          } catch (error) { fail("key-error", error); }
        });
        row.append(revoke);
      }
      list.append(row);
    }
  }

  // ---- compute: pools (balance, top up) and runner keys --------------------------------

  const number = (n) => Number(n).toLocaleString();

  async function renderPools(key) {
    const { pools } = await api("GET", "/api/pools", undefined, key);
    const list = $("pools");
    list.textContent = "";
    if (!pools.length) list.append(el("li", "empty", "No pools yet."));
    for (const pool of pools) {
      const row = el("li", "pool-row");
      row.id = "pool-" + pool.id;
      const text = el("div");
      text.append(el("div", "name", pool.name));
      const owner = pool.owner_kind === "space" ? `space ${pool.owner}` : "yours";
      text.append(el("div", "meta", `${owner} · ${pool.id}`));
      const figures = el("div", "figures");
      figures.append(
        el("span", "balance", `${number(pool.balance)} available`), " · ",
        el("span", "reserved", `${number(pool.reserved)} reserved`), " · ",
        el("span", "spent", `${number(pool.spent)} spent`));
      text.append(figures);
      const form = el("form", "top-up");
      const id = "top-up-" + pool.id;
      const label = el("label", "visually-hidden", `Credits to add to the pool ${pool.name}`);
      label.htmlFor = id;
      const amount = el("input");
      amount.id = id;
      amount.type = "number";
      amount.min = "1";
      amount.step = "1";
      amount.required = true;
      amount.placeholder = "credits";
      const button = el("button", null, "Top up");
      button.type = "submit";
      form.append(label, amount, button);
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        $("pool-error").hidden = true;
        button.disabled = true;
        try {
          await api("POST", `/api/pools/${encodeURIComponent(pool.id)}/grants`,
            { amount: Number(amount.value) }, key);
          await renderPools(key);
        } catch (error) {
          button.disabled = false;
          fail("pool-error", error);
        }
      });
      row.append(text, form);
      list.append(row);
    }
  }

  async function renderRunnerKeys(key) {
    const { keys } = await api("GET", "/api/runner-keys", undefined, key);
    const list = $("runner-keys");
    list.textContent = "";
    if (!keys.length) list.append(el("li", "empty", "No runner keys."));
    for (const k of keys) {
      const row = el("li", k.revoked_at ? "revoked" : "");
      row.id = "runner-key-" + k.id;
      const text = el("div");
      text.append(el("div", "name", k.name));
      text.append(el("div", "meta", `kinds: ${k.kinds.join(", ")}`));
      const state = k.revoked_at ? `revoked ${when(k.revoked_at)}` : `last used ${when(k.last_used_at)}`;
      text.append(el("div", "meta", `made ${when(k.created_at)} · ${state}`));
      row.append(text);
      if (!k.revoked_at) {
        const revoke = el("button", "link", "Revoke");
        revoke.type = "button";
        revoke.setAttribute("aria-label", `Revoke the runner key ${k.name}`);
        revoke.addEventListener("click", async () => {
          $("runner-key-error").hidden = true;
          try {
            await api("DELETE", `/api/runner-keys/${encodeURIComponent(k.id)}`, undefined, key);
            await renderRunnerKeys(key);
          } catch (error) { fail("runner-key-error", error); }
        });
        row.append(revoke);
      }
      list.append(row);
    }
  }

  $("pool-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("pool-error").hidden = true;
    const key = sessionStorage.getItem(KEY);
    try {
      await api("POST", "/api/pools", { name: $("pool-name").value.trim() }, key);
      $("pool-name").value = "";
      await renderPools(key);
    } catch (error) { fail("pool-error", error); }
  });

  $("runner-key-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("runner-key-error").hidden = true;
    const key = sessionStorage.getItem(KEY);
    const kinds = $("runner-key-kinds").value.split(/[\s,]+/).filter(Boolean);
    try {
      const made = await api("POST", "/api/runner-keys", {
        name: $("runner-key-name").value.trim(), kinds,
      }, key);
      $("runner-key-name").value = "";
      $("runner-key-kinds").value = "";
      $("new-runner-key-token").textContent = made.token;
      $("new-runner-key").hidden = false;
      await renderRunnerKeys(key);
    } catch (error) { fail("runner-key-error", error); }
  });

  $("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("login-error").hidden = true;
    try {
      const logged = await api("POST", "/api/login", {
        username: $("login-username").value.trim(),
        password: $("login-password").value,
        key_name: "web page",
      });
      $("login-password").value = "";
      await signedIn(logged);
    } catch (error) { fail("login-error", error); }
  });

  $("signup-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("signup-error").hidden = true;
    const body = {
      username: $("signup-username").value.trim(),
      password: $("signup-password").value,
    };
    if ($("signup-display").value.trim()) body.display_name = $("signup-display").value.trim();
    if ($("signup-email").value.trim()) body.email = $("signup-email").value.trim();
    try {
      await api("POST", "/api/users", body);
      const logged = await api("POST", "/api/login", {
        username: body.username, password: body.password, key_name: "web page",
      });
      $("signup-password").value = "";
      await signedIn(logged);
    } catch (error) { fail("signup-error", error); }
  });

  $("key-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("key-error").hidden = true;
    const key = sessionStorage.getItem(KEY);
    try {
      const made = await api("POST", "/api/me/keys", { name: $("key-name").value.trim() }, key);
      $("key-name").value = "";
      $("new-key-token").textContent = made.token;
      $("new-key").hidden = false;
      await renderKeys(key);
    } catch (error) { fail("key-error", error); }
  });

  $("agent-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("agent-error").hidden = true;
    const key = sessionStorage.getItem(KEY);
    try {
      await api("POST", "/api/me/agents", {
        slug: $("agent-slug").value.trim(), name: $("agent-name").value.trim(),
      }, key);
      $("agent-slug").value = "";
      $("agent-name").value = "";
      await renderAgents(key);
    } catch (error) { fail("agent-error", error); }
  });

  $("space-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("space-error").hidden = true;
    const key = sessionStorage.getItem(KEY);
    try {
      await api("POST", "/api/spaces", {
        slug: $("space-slug").value.trim(), name: $("space-name").value.trim(),
      }, key);
      $("space-slug").value = "";
      $("space-name").value = "";
      await renderSpaces(key);
    } catch (error) { fail("space-error", error); }
  });

  $("sessions-scope").addEventListener("change", () => {
    renderSessions(sessionStorage.getItem(KEY), null);
  });
  $("sessions-search").addEventListener("submit", (event) => {
    event.preventDefault();
    renderSessions(sessionStorage.getItem(KEY), null);
  });

  $("logout").addEventListener("click", async () => {
    const key = sessionStorage.getItem(KEY);
    const id = sessionStorage.getItem(KEY_ID);
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(KEY_ID);
    $("new-key").hidden = true;
    $("new-runner-key").hidden = true;
    try {  // the key this page signed in with stops working
      if (key && id) await api("DELETE", `/api/me/keys/${encodeURIComponent(id)}`, undefined, key);
    } catch (error) { /* signed out here whatever the hub says */ }
    show("login-view");
  });

  $("show-signup").addEventListener("click", () => show("signup-view"));
  $("show-login").addEventListener("click", () => show("login-view"));
  home();
})();
