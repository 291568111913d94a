/* fakescope dashboard: runs under --runs DIR; metrics, tables, figures, training curves; two
   runs side by side. */
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const picked = [];
  const cache = new Map();
  const CURVES = [["val_auc", "val AUC"], ["train_loss", "train loss"], ["val_loss", "val loss"], ["train_acc", "train acc"]];

  async function loadRuns() {
    const body = $("runs");
    try {
      const page = await fs.json("../v1/runs");
      body.replaceChildren();
      if (!page.items.length) {
        body.append(fs.el("tr", {}, fs.el("td", { colspan: "4" },
          page.root ? "No runs found in this folder." : "No runs folder: start the server with --runs DIR.")));
      }
      for (const run of page.items) {
        const box = fs.el("input", { type: "checkbox", "aria-label": `Pick run ${run.name}`, "data-run": run.id });
        box.addEventListener("change", () => toggle(run.id, box.checked));
        body.append(fs.el("tr", {}, fs.el("td", {}, box), fs.el("td", {}, run.name),
          fs.el("td", {}, run.kinds.join(", ")), fs.el("td", {}, fs.when(run.modified))));
      }
    } catch (err) {
      body.replaceChildren(fs.el("tr", {}, fs.el("td", { colspan: "4", class: "error" }, err.message)));
    }
  }

  async function toggle(id, on) {
    const i = picked.indexOf(id);
    if (on && i < 0) picked.push(id);
    if (!on && i >= 0) picked.splice(i, 1);
    while (picked.length > 2) {
      const old = picked.shift();
      const box = document.querySelector(`input[data-run="${old}"]`);
      if (box) box.checked = false;
    }
    const runs = [];
    for (const rid of picked) {
      if (!cache.has(rid)) cache.set(rid, await fs.json(`../v1/runs/${rid}`));
      runs.push(cache.get(rid));
    }
    render(runs);
  }

  function fmt(v) {
    return v === undefined || v === null ? "" : Math.abs(v) >= 1000 || Number.isInteger(v) ? String(v) : v.toFixed(4);
  }

  function render(runs) {
    const table = $("compare");
    table.replaceChildren();
    $("compare-box").hidden = runs.length === 0;
    if (runs.length) {
      const head = fs.el("tr", {}, fs.el("th", { scope: "col" }, "metric"),
        ...runs.map((r) => fs.el("th", { scope: "col" }, r.name)));
      if (runs.length === 2) head.append(fs.el("th", { scope: "col" }, "difference"));
      table.append(fs.el("thead", {}, head));
      const keys = [...new Set(runs.flatMap((r) => Object.keys(r.metrics)))];
      const tbody = fs.el("tbody");
      for (const key of keys) {
        const values = runs.map((r) => r.metrics[key]);
        const row = fs.el("tr", {}, fs.el("th", { scope: "row" }, key),
          ...values.map((v) => fs.el("td", { class: "num" }, fmt(v))));
        if (runs.length === 2) {
          const both = values.every((v) => typeof v === "number");
          row.append(fs.el("td", { class: "num" }, both ? fmt(values[1] - values[0]) : ""));
        }
        tbody.append(row);
      }
      table.append(tbody);
    }
    const details = $("details");
    details.replaceChildren(...runs.map(detail));
  }

  function detail(run) {
    const box = fs.el("section", { "aria-label": `Run ${run.name}` }, fs.el("h2", {}, run.name));
    for (const t of run.tables) box.append(fs.el("h3", {}, t.name), markdownTable(t.text));
    for (const [key, label] of CURVES) {
      if (run.curves[key]) box.append(fs.el("h3", {}, `Training: ${label}`), curve(run.curves, key, label));
    }
    for (const name of run.figures) {
      const img = fs.el("img", { alt: `${name} of ${run.name}` });
      fs.blobUrl(`../v1/runs/${run.id}/files/${encodeURI(name)}`).then((u) => { img.src = u; }).catch(() => {});
      box.append(fs.el("figure", {}, img, fs.el("figcaption", { class: "muted" }, name)));
    }
    return box;
  }

  function markdownTable(text) {
    // pipe tables become <table>; other Markdown lines stay as text
    const wrap = fs.el("div", { class: "table-wrap" });
    let table = null;
    for (const line of text.split("\n")) {
      const s = line.trim();
      if (s.startsWith("|")) {
        const cells = s.replace(/^\||\|$/g, "").split("|").map((c) => c.trim());
        if (cells.every((c) => /^:?-{2,}:?$/.test(c))) continue;
        if (!table) { table = fs.el("table"); wrap.append(table); }
        const head = table.rows.length === 0;
        table.append(fs.el("tr", {}, ...cells.map((c) => fs.el(head ? "th" : "td", head ? { scope: "col" } : {}, c))));
      } else {
        table = null;
        if (s) wrap.append(fs.el("p", { class: "muted" }, s.replace(/^#+\s*/, "")));
      }
    }
    return wrap;
  }

  function curve(curves, key, label) {
    const ys = curves[key], xs = curves.epoch || ys.map((_, i) => i + 1);
    const pts = ys.map((y, i) => [xs[i], y]).filter((p) => p[1] !== null && p[0] !== null);
    const W = 320, H = 160, P = 30;
    const [x0, x1] = [Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0]))];
    const [y0, y1] = [Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[1]))];
    const sx = (x) => P + ((x - x0) / (x1 - x0 || 1)) * (W - 2 * P);
    const sy = (y) => H - P - ((y - y0) / (y1 - y0 || 1)) * (H - 2 * P);
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("class", "curve");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", `${label} by epoch, from ${fmt(pts[0][1])} to ${fmt(pts[pts.length - 1][1])}`);
    const add = (tag, attrs, text) => {
      const n = document.createElementNS(ns, tag);
      for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
      if (text !== undefined) n.textContent = text;
      svg.append(n);
    };
    add("polyline", { points: pts.map((p) => `${sx(p[0])},${sy(p[1])}`).join(" "), fill: "none", stroke: "#0969da", "stroke-width": 2 });
    add("text", { x: 2, y: P - 8, "font-size": 10 }, fmt(y1));
    add("text", { x: 2, y: H - P + 4, "font-size": 10 }, fmt(y0));
    add("text", { x: W - P, y: H - 8, "font-size": 10 }, `epoch ${x1}`);
    return svg;
  }

  document.addEventListener("fakescope-token", loadRuns);
  loadRuns();
})();
