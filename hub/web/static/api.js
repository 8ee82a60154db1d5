// Renders /api/openapi.json as a readable page (no external libraries).
"use strict";

(async function () {
  const doc = await (await fetch("/api/openapi.json")).json();
  const el = (tag, text, className) => {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  };
  const refName = (schema) => schema && schema.$ref ? schema.$ref.split("/").pop() : null;
  const schemaLink = (schema) => {
    const name = refName(schema);
    if (!name) return el("code", JSON.stringify(schema));
    const a = el("a", name);
    a.href = "#schema-" + name;
    return a;
  };
  document.getElementById("title").textContent = `${doc.info.title} ${doc.info.version}`;
  document.getElementById("description").textContent = doc.info.description;
  const ops = document.getElementById("operations");
  ops.textContent = "";
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const box = el("section", undefined, "op");
      const h = el("h2");
      h.append(el("span", method.toUpperCase(), "verb " + method), document.createTextNode(path));
      box.append(h, el("p", op.summary));
      if (op.security) box.append(el("p", path.startsWith("/api/me") ? "Authorization: Bearer <user key>" : "Authorization: Bearer <session token>", "lock"));
      if (op.parameters) {
        const table = el("table");
        table.append(el("tr"));
        table.lastChild.append(el("th", "parameter"), el("th", "in"), el("th", "type"), el("th", ""));
        for (const p of op.parameters) {
          const row = el("tr");
          row.append(el("td", p.name), el("td", p.in), el("td", p.schema.type), el("td", p.description || ""));
          table.append(row);
        }
        box.append(table);
      }
      if (op.requestBody) {
        const p = el("p", "Body: ");
        const json = op.requestBody.content["application/json"];
        if (json) p.append(schemaLink(json.schema));
        else p.append(op.requestBody.description || Object.keys(op.requestBody.content).join(", "));
        box.append(p);
      }
      const list = el("ul");
      for (const [status, response] of Object.entries(op.responses)) {
        const item = el("li", `${status} ${response.description} `);
        const content = response.content && response.content["application/json"];
        if (content) item.append(schemaLink(content.schema));
        list.append(item);
      }
      box.append(list);
      ops.append(box);
    }
  }
  const schemas = document.getElementById("schemas");
  for (const [name, schema] of Object.entries(doc.components.schemas)) {
    const details = el("details");
    details.id = "schema-" + name;
    details.append(el("summary", name), el("pre", JSON.stringify(schema, null, 2)));
    schemas.append(details);
  }
})();
