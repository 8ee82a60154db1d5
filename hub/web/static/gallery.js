// The gallery: a session's artifacts (typed results on messages) in one panel, each kind
// with its own renderer: a pipeline drawn as a graph (laid out by the vendored dagre), a
// table as a table, an image as its thumbnail, a 3D scene in a sandboxed frame (the
// vendored 3Dmol.js runs there, in an opaque origin, and is posted only data), any other
// JSON as text. A message's artifacts show under it as buttons that open them here; the
// view leads back to the message. Agent-supplied text is always set as text, never markup,
// and a scene's `viewer_code` is shown, never run.
"use strict";

window.HubGallery = (function () {
  const KIND = {canvas3d: "3D scene", pipeline: "Pipeline", table: "Table", image: "Image", json: "JSON"};
  const MAX_STRUCTURE_BYTES = 20 * 1024 * 1024;
  const TABLE_ROWS_SHOWN = 1000;

  function create(ctx) {
    const $ = (id) => document.getElementById(id);
    const el = ctx.el;
    const artifacts = new Map();   // id -> artifact (the highest version heard)
    const byMessage = new Map();   // message id -> Set of artifact ids
    let shown = null;              // {id, from} while the view is open
    let frameListener = null;

    // ---- state ---------------------------------------------------------------------

    async function load() {
      let before = null;
      for (let page = 0; page < 50; page++) {
        const query = new URLSearchParams({limit: "200"});
        if (before) query.set("before", String(before));
        const response = await ctx.api("/artifacts?" + query);
        if (!response || !response.ok) return;
        const body = await response.json();
        for (const a of body.artifacts) upsert(a, false);
        if (!body.next_before) break;
        before = body.next_before;
      }
      render();
      for (const messageId of byMessage.keys()) {
        const item = document.getElementById("msg-" + messageId);
        if (item) attachChips(item, messageId);
      }
    }

    function upsert(a, now = true) {
      const known = artifacts.get(a.id);
      if (known && known.version >= a.version) return;
      artifacts.set(a.id, a);
      if (!byMessage.has(a.message_id)) byMessage.set(a.message_id, new Set());
      byMessage.get(a.message_id).add(a.id);
      if (!now) return;
      render();
      const item = document.getElementById("msg-" + a.message_id);
      if (item) attachChips(item, a.message_id);
      if (shown && shown.id === a.id) open(a.id, shown.from);
    }

    // ---- the panel -----------------------------------------------------------------

    function render() {
      const list = $("gallery");
      const kind = $("gallery-kind").value;
      const items = [...artifacts.values()].sort((x, y) => y.id - x.id)
        .filter((a) => !kind || a.kind === kind);
      list.textContent = "";
      for (const a of items) list.append(card(a));
      const empty = $("gallery-empty");
      empty.textContent = artifacts.size ? "No artifacts of that kind." : "No artifacts yet.";
      empty.hidden = items.length > 0;
    }

    function card(a) {
      const li = el("li", "artifact-card kind-" + a.kind);
      li.id = "artifact-" + a.id;
      const button = el("button", "artifact-open");
      button.type = "button";
      button.dataset.artifact = a.id;
      const head = el("span", "artifact-head");
      head.append(el("span", "badge kind", KIND[a.kind] || a.kind), " ", el("span", "artifact-title", a.title));
      button.append(head, el("span", "hint", ` v${a.version} · on message #${a.message_id}`));
      button.addEventListener("click", () => open(a.id, button));
      li.append(button, preview(a));
      if (shown && shown.id === a.id) li.setAttribute("aria-current", "true");
      return li;
    }

    function preview(a) {
      const box = el("div", "artifact-preview");
      const d = a.data;
      switch (a.kind) {
        case "pipeline":
          box.append(pipelineSvg(d, true), el("span", "hint", `${d.nodes.length} steps, ${d.edges.length} links`));
          break;
        case "table": box.append(tableNode(d, 4, 5)); break;
        case "image": showImage(box, d, false); break;
        case "canvas3d":
          box.append(el("span", "hint", `${d.structures.length} structure${d.structures.length === 1 ? "" : "s"}` +
            (d.structures.length ? ": " + d.structures.map((s) => s.name || s.id).join(", ") : "")));
          break;
        default: {
          const text = JSON.stringify(d.value);
          box.append(el("code", "json-preview", text.length > 160 ? text.slice(0, 160) + "…" : text));
        }
      }
      return box;
    }

    // ---- chips under messages --------------------------------------------------------

    function attachChips(item, messageId) {
      const ids = byMessage.get(messageId);
      let chips = item.querySelector(":scope > .artifact-chips");
      if (!ids || !ids.size) return;
      if (!chips) {
        chips = el("ul", "artifact-chips");
        chips.setAttribute("aria-label", "Artifacts");
        const after = item.querySelector(":scope > .metadata");
        item.insertBefore(chips, after);
      }
      chips.textContent = "";
      for (const id of [...ids].sort((x, y) => x - y)) {
        const a = artifacts.get(id);
        const li = el("li");
        const chip = el("button", "artifact-chip", `◆ ${KIND[a.kind] || a.kind}: ${a.title}`);
        chip.type = "button";
        chip.dataset.artifact = id;
        chip.addEventListener("click", () => open(id, chip));
        li.append(chip);
        chips.append(li);
      }
    }

    // ---- the view ------------------------------------------------------------------

    function open(id, from) {
      const a = artifacts.get(id);
      if (!a) return;
      shown = {id, from};
      const dialog = $("artifact-view");
      $("artifact-title").textContent = a.title;
      $("artifact-meta").textContent =
        `${KIND[a.kind] || a.kind} · by ${ctx.nameOf(a.last_editor)} · on message #${a.message_id}`;
      $("artifact-back").textContent = `Back to message #${a.message_id}`;
      showBody(a.kind, a.data);
      listVersions(a);
      for (const c of document.querySelectorAll(".artifact-card[aria-current]")) c.removeAttribute("aria-current");
      const current = document.getElementById("artifact-" + id);
      if (current) {
        current.setAttribute("aria-current", "true");
        current.scrollIntoView({block: "nearest"});
      }
      if (!dialog.open) dialog.showModal();
    }

    function showBody(kind, data) {
      const body = $("artifact-body");
      body.textContent = "";
      stopFrame();
      switch (kind) {
        case "pipeline": showPipeline(body, data); break;
        case "table": showTable(body, data); break;
        case "image": showImage(body, data, true); break;
        case "canvas3d": showScene(body, data); break;
        default: body.append(el("pre", "json", JSON.stringify(data.value, null, 2)));
      }
    }

    // Every kept version, newest first; choosing one shows it (the current one is shown
    // from what the page holds, older ones are read when chosen).
    async function listVersions(a) {
      const select = $("artifact-version");
      select.textContent = "";
      const current = el("option", null, `version ${a.version} (current)`);
      current.value = String(a.version);
      select.append(current);
      select.dataset.artifact = a.id;
      if (a.version === 1) return;
      const response = await ctx.api(`/artifacts/${a.id}/versions?limit=200`);
      if (!response || !response.ok || !shown || shown.id !== a.id) return;
      for (const v of (await response.json()).versions) {
        if (v.version >= a.version) continue;
        const option = el("option", null, `version ${v.version} · ${ctx.nameOf(v.editor)}`);
        option.value = String(v.version);
        select.append(option);
      }
    }

    async function chooseVersion() {
      const select = $("artifact-version");
      const a = artifacts.get(Number(select.dataset.artifact));
      if (!a) return;
      const version = Number(select.value);
      if (version === a.version) {
        showBody(a.kind, a.data);
        return;
      }
      const response = await ctx.api(`/artifacts/${a.id}/versions/${version}`);
      if (!response || !response.ok || Number(select.value) !== version) return;
      showBody(a.kind, (await response.json()).data);
    }

    function close() {
      stopFrame();
      shown = null;
      for (const c of document.querySelectorAll(".artifact-card[aria-current]")) c.removeAttribute("aria-current");
    }

    function back() {
      const a = shown && artifacts.get(shown.id);
      $("artifact-view").close();
      if (a) ctx.showMessage(a.message_id);
    }

    // ---- pipelines -------------------------------------------------------------------

    const svg = HubGraph.svg;

    // The pipeline's graph (see graph.js): a box per node (its label, or id, over its
    // type), an arrow per edge.
    function pipelineSvg(d, small) {
      const nodes = d.nodes.map((n) => {
        const label = n.label || n.id;
        const width = Math.min(220, Math.max(70, 7.2 * Math.max(label.length, n.type.length) + 20));
        return {id: n.id, width, height: 40, label, type: n.type};
      });
      return HubGraph.draw(nodes, d.edges, {
        gap: [18, 46, 8],
        className: "pipeline" + (small ? " small" : ""),
        ariaLabel: `Pipeline of ${d.nodes.length} steps and ${d.edges.length} links`,
        drawNode(group, n) {
          const title = svg("title");
          title.textContent = `${n.id} (${n.type})`;
          group.append(title, svg("rect", {width: n.width, height: n.height, rx: 6}));
          const label = svg("text", {x: n.width / 2, y: 17, class: "label"});
          label.textContent = n.label.length > 28 ? n.label.slice(0, 27) + "…" : n.label;
          const type = svg("text", {x: n.width / 2, y: 32, class: "type"});
          type.textContent = n.type.length > 28 ? n.type.slice(0, 27) + "…" : n.type;
          group.append(label, type);
        },
      });
    }

    function showPipeline(body, d) {
      const frame = el("div", "pipeline-frame");
      frame.append(pipelineSvg(d, false));
      body.append(frame);
      const details = el("details", "pipeline-nodes");
      details.append(el("summary", null, `Steps (${d.nodes.length}) and their configuration`));
      const list = el("dl");
      for (const n of d.nodes) {
        list.append(el("dt", null, `${n.label || n.id} — ${n.type} (${n.id})`));
        list.appendChild(el("dd")).append(el("pre", null, JSON.stringify(n.config, null, 2)));
      }
      details.append(list);
      body.append(details);
    }

    // ---- tables ----------------------------------------------------------------------

    function cellText(v) {
      return v === null ? "" : String(v);
    }

    function tableNode(d, maxRows, maxCols) {
      const wrap = el("div", "table-wrap");
      const table = el("table", "artifact-table");
      const cols = d.columns.slice(0, maxCols);
      const head = el("tr");
      for (const c of cols) head.append(el("th", null, c));
      if (cols.length < d.columns.length) head.append(el("th", null, "…"));
      table.appendChild(el("thead")).append(head);
      const tbody = el("tbody");
      for (const row of d.rows.slice(0, maxRows)) {
        const tr = el("tr");
        row.slice(0, cols.length).forEach((v) => tr.append(el("td", typeof v === "number" ? "num" : null, cellText(v))));
        if (cols.length < d.columns.length) tr.append(el("td", null, "…"));
        tbody.append(tr);
      }
      table.append(tbody);
      wrap.append(table);
      if (d.rows.length > maxRows) wrap.append(el("p", "hint", `${d.rows.length} rows in all`));
      return wrap;
    }

    function showTable(body, d) {
      body.append(tableNode(d, TABLE_ROWS_SHOWN, d.columns.length));
    }

    // ---- images ----------------------------------------------------------------------

    async function showImage(box, d, full) {
      const figure = el("figure", "artifact-image");
      box.append(figure);
      const info = await ctx.attachmentInfo(d.attachment_id);
      if (info && info.thumbnail) {
        const src = await ctx.dataUrl(d.attachment_id, "thumbnail");
        if (src) {
          const img = el("img", "thumbnail");
          img.alt = d.caption || info.name;
          img.src = src;
          figure.append(img);
        }
      } else {
        figure.append(el("span", "hint", info ? `${info.name}: no preview` : "image unavailable"));
      }
      if (d.caption) figure.append(el("figcaption", null, d.caption));
      if (full && info) figure.append(ctx.downloadButton(d.attachment_id, info));
    }

    // ---- 3D scenes ---------------------------------------------------------------------

    function formatOf(structure, info) {
      if (structure.format) return structure.format;
      const name = (info && info.name || "").toLowerCase();
      if (name.endsWith(".cif") || name.endsWith(".mmcif") || (info && info.content_type === "chemical/x-mmcif")) return "mmcif";
      for (const f of ["sdf", "mol2", "xyz"]) if (name.endsWith("." + f)) return f;
      return "pdb";
    }

    function stopFrame() {
      if (frameListener) window.removeEventListener("message", frameListener);
      frameListener = null;
    }

    async function showScene(body, d) {
      const status = el("p", "scene-status", "Loading the structures…");
      status.setAttribute("role", "status");
      const links = el("ul", "scene-structures");
      const infos = await Promise.all(d.structures.map((s) => ctx.attachmentInfo(s.attachment_id)));
      d.structures.forEach((s, i) => {
        const li = el("li", null, `${s.name || s.id}: `);
        if (infos[i]) li.append(ctx.downloadButton(s.attachment_id, infos[i]));
        else li.append(el("span", "hint", "unavailable"));
        links.append(li);
      });
      const frame = el("iframe", "scene-frame");
      frame.title = "3D scene";
      frame.setAttribute("sandbox", "allow-scripts");
      frame.setAttribute("referrerpolicy", "no-referrer");
      const texts = Promise.all(d.structures.map(async (s, i) => {
        const info = infos[i];
        if (!info || info.size > MAX_STRUCTURE_BYTES) return null;
        const response = await ctx.fetchAttachment(s.attachment_id, "content");
        if (!response || !response.ok) return null;
        return {id: s.id, format: formatOf(s, info), text: await response.text()};
      }));
      if (!d.structures.length) status.textContent = "This scene references no structure.";
      frameListener = async (event) => {
        if (event.source !== frame.contentWindow || !event.data) return;
        if (event.data.type === "ready" && d.structures.length) {
          const structures = (await texts).filter(Boolean);
          if (!structures.length) {
            status.textContent = "Its structures could not be read.";
            return;
          }
          frame.contentWindow.postMessage({type: "scene", scene: {
            structures,
            representations: d.representations,
            annotations: d.annotations,
            objects: d.objects,
            camera: d.camera,
          }}, "*");
        } else if (event.data.type === "rendered") {
          status.textContent = `Drawn: ${structuresText(d)} (${Number(event.data.atoms)} atoms).`;
          status.dataset.atoms = String(Number(event.data.atoms));
        } else if (event.data.type === "failed") {
          status.textContent = "The scene could not be drawn: " + String(event.data.message).slice(0, 200);
        }
      };
      window.addEventListener("message", frameListener);
      if (d.structures.length) {
        frame.src = "/viewer3d";
        body.append(frame);
      }
      body.append(status, links);
      if (d.annotations.length) {
        const notes = el("ul", "scene-annotations");
        for (const n of d.annotations) notes.append(el("li", null, n.text));
        body.append(notes);
      }
      if (d.viewer_code) {
        const code = el("details", "viewer-code");
        code.append(el("summary", null, "Viewer code (kept as text, not run)"), el("pre", null, d.viewer_code));
        body.append(code);
      }
    }

    function structuresText(d) {
      return d.structures.map((s) => s.name || s.id).join(", ");
    }

    $("gallery-kind").addEventListener("change", render);
    $("artifact-close").addEventListener("click", () => $("artifact-view").close());
    $("artifact-back").addEventListener("click", back);
    $("artifact-version").addEventListener("change", chooseVersion);
    $("artifact-view").addEventListener("close", close);

    return {load, upsert, attachChips, open, size: () => artifacts.size};
  }

  return {create, KIND};
})();
