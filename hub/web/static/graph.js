// A directed graph laid out by the vendored dagre (left to right, ranks by dependency)
// and drawn as SVG: an arrow per edge, a box per node whose inside the caller draws.
// Shared by the gallery's pipelines and the pipeline runs.
"use strict";

window.HubGraph = (function () {
  const NS = "http://www.w3.org/2000/svg";

  function svg(tag, attrs) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    return node;
  }

  // nodes: [{id, width, height, ...}], edges: [{source, target}]; opts: {gap: [nodesep,
  // ranksep, margin], className, ariaLabel, drawNode(group, node)}. The node given to
  // drawNode is the caller's with dagre's x and y.
  function draw(nodes, edges, opts) {
    const [nodesep, ranksep, margin] = opts.gap;
    const g = new dagre.graphlib.Graph();
    g.setGraph({rankdir: "LR", nodesep, ranksep, marginx: margin, marginy: margin});
    g.setDefaultEdgeLabel(() => ({}));
    for (const n of nodes) g.setNode(n.id, {...n});
    for (const e of edges) g.setEdge(e.source, e.target);
    dagre.layout(g);
    const {width, height} = g.graph();
    const root = svg("svg", {viewBox: `0 0 ${Math.ceil(width)} ${Math.ceil(height)}`, role: "img",
      class: opts.className});
    root.setAttribute("aria-label", opts.ariaLabel);
    const markerId = "arrow-" + Math.random().toString(36).slice(2);
    const defs = svg("defs");
    const marker = svg("marker", {id: markerId, viewBox: "0 0 10 10", refX: 9, refY: 5,
      markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse"});
    marker.append(svg("path", {d: "M 0 0 L 10 5 L 0 10 z", class: "arrow-head"}));
    defs.append(marker);
    root.append(defs);
    for (const e of g.edges()) {
      const points = g.edge(e).points;
      const path = points.map((p, i) => `${i ? "L" : "M"} ${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(" ");
      const line = svg("path", {d: path, class: "edge", "marker-end": `url(#${markerId})`});
      line.dataset.source = e.v;
      line.dataset.target = e.w;
      root.append(line);
    }
    for (const id of g.nodes()) {
      const n = g.node(id);
      const group = svg("g", {class: "node", transform: `translate(${n.x - n.width / 2} ${n.y - n.height / 2})`});
      group.dataset.node = id;
      opts.drawNode(group, n);
      root.append(group);
    }
    return root;
  }

  return {svg, draw};
})();
