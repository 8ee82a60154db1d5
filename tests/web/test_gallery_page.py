"""The gallery on the observer page, in a real browser under the production
Content-Security-Policy: the session's artifacts as cards with previews (a pipeline
drawn as a graph laid out by the vendored dagre, a table as a table, an image as its
thumbnail), a message's artifacts as buttons that open them in the artifact view and
lead back to the message, new artifacts and versions appearing live, a kind filter, and
a 3D scene drawn by the vendored 3Dmol.js in a sandboxed frame while its agent-supplied
viewer code is shown as text and never run."""

from __future__ import annotations

import math
from typing import Any

from playwright.async_api import Browser, Page, expect

from tests.helpers import HubClient
from tests.web.test_attachments_page import chart, upload
from tests.web.test_page import WAIT, assert_clean, enter, open_page, screenshot

HOSTILE_CODE = "window.top.pwned = 3; parent.document.title = 'pwned'; alert(1)"


def helix_pdb(residues: int = 24) -> bytes:
    """A poly-alanine alpha helix (ideal cylindrical coordinates), with its HELIX record."""
    lines = [f"HELIX    1   1 ALA A    1  ALA A {residues:4d}  1{'':36}{residues:2d}"]
    serial = 1
    atoms = (("N", 1.55, -28.0, -0.85), ("CA", 2.3, 0.0, 0.0), ("C", 1.61, 28.0, 0.85),
             ("O", 1.76, 40.0, 2.05), ("CB", 3.3, -8.0, -0.9))  # fmt: skip
    for i in range(residues):
        for name, radius, shift, dz in atoms:
            angle = math.radians(i * 100.0 + shift)
            # the axis along x: seen from the side in the viewer's default camera
            y, z, x = radius * math.cos(angle), radius * math.sin(angle), i * 1.5 + dz
            element = name[0]
            lines.append(
                f"ATOM  {serial:5d}  {name:<3s} ALA A{i + 1:4d}    "
                f"{x:8.3f}{y:8.3f}{z:8.3f}  1.00  0.00          {element:>2s}"
            )
            serial += 1
    lines.append("END")
    return ("\n".join(lines) + "\n").encode()


WORKFLOW = {
    "kind": "pipeline",
    "nodes": [
        {"id": "fetch", "type": "download", "label": "Fetch PDB 1CRN"},
        {"id": "clean", "type": "filter", "label": "Strip waters"},
        {"id": "dock", "type": "docking", "label": "Dock ligands", "config": {"exhaustiveness": 8}},
        {"id": "md", "type": "simulation", "label": "Short MD"},
        {"id": "score", "type": "scoring", "label": "Rescore"},
        {"id": "report", "type": "report", "label": "Write report"},
    ],
    "edges": [
        {"source": "fetch", "target": "clean"},
        {"source": "clean", "target": "dock"},
        {"source": "clean", "target": "md"},
        {"source": "dock", "target": "score"},
        {"source": "md", "target": "score"},
        {"source": "score", "target": "report"},
    ],
}

SCORES = {
    "kind": "table",
    "columns": ["ligand", "affinity (kcal/mol)", "rmsd", "kept"],
    "rows": [["L-01", -9.4, 0.8, True], ["L-02", -8.7, 1.2, True], ["L-03", -6.1, None, False]],
}


async def artifact(site: HubClient, s: dict[str, Any], token: str, **body: Any) -> dict[str, Any]:
    status, made = await site.call(
        "POST", f"/api/sessions/{s['id']}/artifacts", token=token, json=body
    )
    assert status == 201, made
    return made  # type: ignore[no-any-return]


def message(client_msg_id: str, content: str) -> dict[str, str]:
    return {"client_msg_id": client_msg_id, "content": content}


async def edge_directions(page: Page, scope: str) -> list[bool]:
    """For each drawn edge, whether its source box lies left of its target box."""
    return await page.locator(scope).evaluate(  # type: ignore[no-any-return]
        """svg => [...svg.querySelectorAll('path.edge')].map((edge) => {
             const box = (id) => svg.querySelector(`g.node[data-node="${id}"]`).getBBox();
             const x = (id) => svg.querySelector(`g.node[data-node="${id}"]`)
                 .transform.baseVal[0].matrix.e;
             return x(edge.dataset.source) + box(edge.dataset.source).width
                 <= x(edge.dataset.target) + 0.5;
           })"""
    )


async def test_the_gallery_shows_each_kind_and_leads_back_to_messages(
    site: HubClient, browser: Browser
) -> None:
    """Four artifacts made on three messages show as cards newest first with previews
    (the pipeline as a left-to-right graph, the table's rows, the image's thumbnail);
    a message's button opens its artifact in the view and "Back to message" returns to
    it; an artifact made and a version written while watching appear live; the kind
    filter keeps one kind; the CSP refuses nothing and nothing loads from elsewhere."""
    s = await site.session_with_b(name="Docking study")
    png = await upload(site, s, chart(), "affinities.png", "image/png")
    flow = await artifact(
        site, s, s["a"], title="Docking workflow", data=WORKFLOW,
        message=message("m1", "Here is the **workflow** I will run."),
    )  # fmt: skip
    scores = await artifact(
        site, s, s["b"], title="Top ligands", data=SCORES,
        message=message("m2", "Scores of the first docking run."),
    )  # fmt: skip
    await artifact(
        site, s, s["b"], title="Affinity chart", message_id=scores["message_id"],
        data={"kind": "image", "attachment_id": png, "caption": "Affinity per ligand"},
    )  # fmt: skip
    await artifact(
        site, s, s["a"], title="Run parameters", message_id=flow["message_id"],
        data={"kind": "json", "value": {"seed": 42, "engine": "vina", "grid": [20, 20, 20]}},
    )  # fmt: skip

    page = await open_page(browser, f"{site.base}/join/{s['invite']}")
    await enter(page, "Ada")
    cards = page.locator("#gallery > li")
    await expect(cards).to_have_count(4, timeout=WAIT)
    await expect(cards.locator(".artifact-title")).to_have_text(
        ["Run parameters", "Affinity chart", "Top ligands", "Docking workflow"]
    )
    preview = page.locator("#artifact-" + str(flow["id"]) + " svg.pipeline")
    await expect(preview.locator("g.node")).to_have_count(6)
    await expect(preview.locator("path.edge")).to_have_count(6)
    assert await edge_directions(page, f"#artifact-{flow['id']} svg.pipeline") == [True] * 6
    table = page.locator(f"#artifact-{scores['id']} table")
    await expect(table.locator("tbody tr")).to_have_count(3)
    await expect(table.locator("tbody tr").first).to_contain_text("L-01")
    thumb = page.locator("#gallery .artifact-image img.thumbnail")
    await expect(thumb).to_have_attribute("alt", "Affinity per ligand", timeout=WAIT)
    assert (await thumb.get_attribute("src") or "").startswith("data:image/png;base64,")
    chips = page.locator(f"#msg-{scores['message_id']} .artifact-chip")
    await expect(chips).to_have_text(["◆ Table: Top ligands", "◆ Image: Affinity chart"])
    await screenshot(page, "gallery-panel.png")

    # A message's artifact opens in the view; "Back" returns to the message.
    await page.locator(f"#msg-{flow['message_id']} .artifact-chip").first.click()
    view = page.locator("#artifact-view")
    await expect(view).to_be_visible()
    await expect(page.locator("#artifact-title")).to_have_text("Docking workflow")
    big = view.locator("svg.pipeline")
    await expect(big.locator("g.node")).to_have_count(6)
    assert await edge_directions(page, "#artifact-view svg.pipeline") == [True] * 6
    await expect(page.locator(f"#artifact-{flow['id']}")).to_have_attribute("aria-current", "true")
    await screenshot(page, "gallery-pipeline.png", full_page=False)
    await page.locator("#artifact-back").click()
    await expect(view).to_be_hidden()
    assert await page.evaluate("document.activeElement.id") == f"msg-{flow['message_id']}"

    # Live: a new artifact, and a new version of one.
    ranked = await artifact(
        site, s, s["b"], title="Reranked", message_id=flow["message_id"],
        data={**SCORES, "rows": SCORES["rows"][:1]},
    )  # fmt: skip
    await expect(cards).to_have_count(5, timeout=WAIT)
    await expect(page.locator(f"#msg-{flow['message_id']} .artifact-chip")).to_have_text(
        ["◆ Pipeline: Docking workflow", "◆ JSON: Run parameters", "◆ Table: Reranked"]
    )
    status, _ = await site.call(
        "PUT",
        f"/api/sessions/{s['id']}/artifacts/{flow['id']}",
        token=s["a"],
        json={
            "expected_version": 1,
            "data": {**WORKFLOW, "edges": WORKFLOW["edges"][:3]},
        },
    )
    assert status == 200
    card = page.locator(f"#artifact-{flow['id']}")
    await expect(card.locator(".artifact-open .hint")).to_contain_text("v2", timeout=WAIT)
    await expect(card.locator(".artifact-preview")).to_contain_text("6 steps, 3 links")
    await expect(page.locator(f"#artifact-{flow['id']} path.edge")).to_have_count(3)
    await expect(page.locator("#activity")).to_contain_text("made a table #" + str(ranked["id"]))

    # The view lists the versions; an older one shows as it was.
    await card.locator(".artifact-open").click()
    versions = page.locator("#artifact-version option")
    await expect(versions).to_have_count(2, timeout=WAIT)
    await expect(versions.first).to_have_text("version 2 (current)")
    await expect(view.locator("svg.pipeline path.edge")).to_have_count(3)
    await page.locator("#artifact-version").select_option("1")
    await expect(view.locator("svg.pipeline path.edge")).to_have_count(6, timeout=WAIT)
    await page.locator("#artifact-close").click()
    await expect(view).to_be_hidden()

    await page.locator("#gallery-kind").select_option("table")
    await expect(cards.locator(".artifact-title")).to_have_text(["Reranked", "Top ligands"])
    await cards.nth(1).locator(".artifact-open").click()
    await expect(view.locator("table.artifact-table tbody tr")).to_have_count(3)
    await screenshot(page, "gallery-table.png", full_page=False)
    await page.locator("#artifact-close").click()
    await assert_clean(page, site.base)


async def test_a_json_artifact_holding_a_number_shows_it(site: HubClient, browser: Browser) -> None:
    """A `json` artifact whose value is a bare number or null shows that value in its
    card's preview and in the artifact view."""
    s = await site.session_with_b(name="Scalars")
    score = await artifact(
        site, s, s["a"], title="Best affinity", message=message("m1", "The best score."),
        data={"kind": "json", "value": -9.4},
    )  # fmt: skip
    nothing = await artifact(
        site, s, s["a"], title="Nothing", message_id=score["message_id"],
        data={"kind": "json", "value": None},
    )  # fmt: skip
    page = await open_page(browser, f"{site.base}/join/{s['invite']}")
    await enter(page, "Ada")
    await expect(page.locator(f"#artifact-{score['id']} .json-preview")).to_have_text(
        "-9.4", timeout=WAIT
    )
    await expect(page.locator(f"#artifact-{nothing['id']} .json-preview")).to_have_text("null")
    await page.locator(f"#msg-{score['message_id']} .artifact-chip").first.click()
    await expect(page.locator("#artifact-title")).to_have_text("Best affinity")
    await expect(page.locator("#artifact-view pre.json")).to_have_text("-9.4")
    await assert_clean(page, site.base)


async def test_a_3d_scene_draws_in_a_sandboxed_frame_and_never_runs_its_code(
    site: HubClient, browser: Browser
) -> None:
    """A scene referencing an uploaded PDB opens in a frame sandboxed to scripts only
    (an opaque origin), which draws it with 3Dmol.js (every atom loaded); the scene's
    viewer code is shown as text and runs nowhere; the structure downloads from a
    button; the page's CSP refuses nothing."""
    s = await site.session_with_b(name="Structures")
    pdb = helix_pdb()
    pdb_id = await upload(site, s, pdb, "helix.pdb", "chemical/x-pdb")
    scene = await artifact(
        site, s, s["a"], title="Helix", message=message("m1", "The model, in 3D."),
        data={
            "kind": "canvas3d",
            "structures": [{"id": "helix", "attachment_id": pdb_id, "name": "Poly-Ala helix"}],
            "representations": [
                {"structure": "helix", "style": "cartoon", "color": "spectrum"},
                {"structure": "helix", "style": "stick", "selection": {"resi": [1, 2, 3]}},
            ],
            "annotations": [{"text": "N-terminus", "position": [0, 2.3, 0]}],
            "camera": {"zoom": 1.2},
            "viewer_code": HOSTILE_CODE,
        },
    )  # fmt: skip
    page = await open_page(browser, f"{site.base}/join/{s['invite']}")
    await enter(page, "Ada")
    await expect(page.locator(f"#artifact-{scene['id']}")).to_contain_text("Poly-Ala helix")
    await page.locator(f"#msg-{scene['message_id']} .artifact-chip").click()
    frame = page.locator("#artifact-view iframe.scene-frame")
    await expect(frame).to_have_attribute("sandbox", "allow-scripts")
    status = page.locator("#artifact-view .scene-status")
    await expect(status).to_have_attribute("data-atoms", str(24 * 5), timeout=WAIT)
    await expect(status).to_contain_text("Drawn: Poly-Ala helix (120 atoms)")
    inner = page.frame_locator("#artifact-view iframe.scene-frame")
    await expect(inner.locator("canvas").first).to_be_visible()
    code = page.locator("#artifact-view .viewer-code")
    await code.locator("summary").click()
    await expect(code.locator("pre")).to_have_text(HOSTILE_CODE)
    await expect(page.locator("#artifact-view .scene-structures button.download")).to_have_text(
        f"helix.pdb ({len(pdb) / 1024:.1f} KB)"
    )
    await screenshot(page, "gallery-scene.png", full_page=False)
    assert await page.evaluate("window.pwned") is None
    assert await page.title() != "pwned"
    # The frame is another origin: the page's storage and DOM are out of its reach.
    frame_origin = await page.frames[-1].evaluate("window.origin")
    assert frame_origin == "null"
    await assert_clean(page, site.base)
