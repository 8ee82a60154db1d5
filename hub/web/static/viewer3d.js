// The 3D viewer frame: draws a scene the observer page posts to it, with the vendored
// 3Dmol.js. It runs framed with sandbox="allow-scripts" (an opaque origin: no access to
// the page, its token or its storage) under a CSP without eval, and it takes only data:
// structure files as text, and styles, selections, labels and shapes picked field by
// field from the artifact. An artifact's `viewer_code` never reaches it.
"use strict";

(function () {
  const status = document.getElementById("status");
  const FORMATS = {pdb: "pdb", mmcif: "cif", cif: "cif", sdf: "sdf", mol2: "mol2", xyz: "xyz"};
  const SELECTION_KEYS = new Set(["chain", "resi", "resn", "atom", "elem", "hetflag", "ss", "serial", "invert"]);
  const COLOR = /^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{1,32})$/;

  function color(value) {
    return typeof value === "string" && COLOR.test(value) ? value : undefined;
  }

  function scalar(value) {
    return ["string", "number", "boolean"].includes(typeof value);
  }

  function plain(value) {
    return scalar(value) || (Array.isArray(value) && value.length <= 10000 && value.every(scalar));
  }

  // A 3Dmol selection from the artifact's: only known keys with plain values (3Dmol
  // would take functions, or strings it evaluates, from other keys).
  function selection(raw, model) {
    const out = {model};
    for (const [key, value] of Object.entries(raw || {})) {
      if (SELECTION_KEYS.has(key) && plain(value)) out[key] = value;
    }
    return out;
  }

  function point(v) {
    return Array.isArray(v) && v.length === 3 && v.every((n) => typeof n === "number")
      ? {x: v[0], y: v[1], z: v[2]} : null;
  }

  function styleOf(rep) {
    const c = color(rep.color);
    const part = c === "spectrum" ? {color: "spectrum"} : c ? {color: c} : {};
    switch (rep.style) {
      case "stick": return {stick: {...part}};
      case "sphere": return {sphere: {...part}};
      case "line": return {line: {...part}};
      case "ball_and_stick": return {stick: {radius: 0.15, ...part}, sphere: {scale: 0.25, ...part}};
      default: return {cartoon: c ? part : {color: "spectrum"}};
    }
  }

  function addShape(viewer, shape) {
    if (!shape || typeof shape !== "object") return;
    const c = color(shape.color) || "orange";
    if (shape.shape === "sphere" && point(shape.center)) {
      viewer.addSphere({center: point(shape.center), radius: Number(shape.radius) || 1, color: c});
    } else if ((shape.shape === "arrow" || shape.shape === "cylinder") &&
               point(shape.start) && point(shape.end)) {
      const spec = {start: point(shape.start), end: point(shape.end), radius: Number(shape.radius) || 0.3, color: c};
      if (shape.shape === "arrow") viewer.addArrow(spec); else viewer.addCylinder(spec);
    }
  }

  function render(scene) {
    const viewer = $3Dmol.createViewer(document.getElementById("viewer"), {backgroundColor: "white"});
    const models = new Map();
    let atoms = 0;
    for (const s of scene.structures) {
      const model = viewer.addModel(String(s.text), FORMATS[s.format] || "pdb");
      models.set(s.id, model);
      atoms += model.selectedAtoms({}).length;
    }
    const reps = (scene.representations || []).filter((r) => models.has(r.structure));
    viewer.setStyle({}, {});  // nothing drawn but what the scene asks for
    if (!reps.length) {
      viewer.setStyle({}, {cartoon: {color: "spectrum"}});
      viewer.addStyle({hetflag: true}, {stick: {}});
      // A small molecule has no cartoon: draw its atoms as sticks.
      for (const model of models.values()) {
        if (model.selectedAtoms({atom: "CA"}).length === 0) viewer.setStyle({model}, {stick: {}});
      }
    }
    for (const rep of reps) {
      viewer.addStyle(selection(rep.selection, models.get(rep.structure)), styleOf(rep));
    }
    for (const note of scene.annotations || []) {
      const at = point(note.position);
      if (!at) continue;
      viewer.addLabel(String(note.text), {position: at, fontColor: color(note.color) || "black",
        backgroundColor: "white", backgroundOpacity: 0.7, fontSize: 12});
    }
    for (const shape of scene.objects || []) addShape(viewer, shape);
    viewer.zoomTo();
    const zoom = scene.camera && Number(scene.camera.zoom);
    if (zoom > 0) viewer.zoom(zoom);
    viewer.render();
    return atoms;
  }

  window.addEventListener("message", (event) => {
    if (event.source !== window.parent || !event.data || event.data.type !== "scene") return;
    try {
      const atoms = render(event.data.scene);
      status.textContent = `${atoms} atoms`;
      window.parent.postMessage({type: "rendered", atoms}, "*");
    } catch (error) {
      status.textContent = "Could not draw this scene.";
      window.parent.postMessage({type: "failed", message: String(error && error.message || error)}, "*");
    }
  });
  window.parent.postMessage({type: "ready"}, "*");
})();
