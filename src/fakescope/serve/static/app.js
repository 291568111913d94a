/* fakescope web page: upload a video, follow the upload and the scan, read the verdict and
   the report, browse past scans. Talks to the REST API of the same server. */
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const form = $("upload-form"), fileInput = $("file"), drop = $("drop"), submit = $("submit");
  const status = $("status");
  let chosen = null, offset = 0, polling = null;
  const PAGE = 20;

  function say(text, isError = false) {
    status.textContent = text;
    status.className = isError ? "error" : "";
  }

  function choose(file) {
    chosen = file || null;
    $("file-name").textContent = chosen ? `${chosen.name} (${(chosen.size / 1048576).toFixed(1)} MiB)` : "No file chosen";
    submit.disabled = !chosen;
  }

  fileInput.addEventListener("change", () => choose(fileInput.files[0]));
  drop.addEventListener("click", (e) => { if (e.target === drop) fileInput.click(); });
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, (e) => { e.preventDefault(); drop.classList.remove("over"); });
  }
  drop.addEventListener("drop", (e) => choose(e.dataTransfer.files[0]));

  async function loadDetectors() {
    const box = $("detectors");
    try {
      const body = await fs.json("../v1/models");
      box.replaceChildren(fs.el("legend", {}, "Detectors"));
      body.detectors.forEach((d, i) => {
        const attrs = { type: "checkbox", name: "detector", value: d.id };
        if (i === 0) attrs.checked = "";
        const title = d.card ? `${d.card.model && d.card.model.name ? d.card.model.name : ""}` : d.error || "";
        box.append(fs.el("label", { title }, fs.el("input", attrs), d.id));
      });
    } catch (err) {
      box.replaceChildren(fs.el("legend", {}, "Detectors"), fs.el("span", { class: "error" }, err.message));
    }
  }

  function upload(data) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "../v1/scans");
      for (const [k, v] of Object.entries(fs.headers())) xhr.setRequestHeader(k, v);
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) $("upload-progress").value = Math.round((100 * e.loaded) / e.total);
      };
      xhr.onload = () => {
        let body = {};
        try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
        if (xhr.status === 200 || xhr.status === 202) resolve(body);
        else reject(new Error(body.error || `HTTP ${xhr.status}`));
      };
      xhr.onerror = () => reject(new Error("the upload failed (network error)"));
      xhr.send(data);
    });
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!chosen) return;
    const data = new FormData();
    data.append("file", chosen, chosen.name);
    const detectors = [...document.querySelectorAll("input[name=detector]:checked")].map((c) => c.value);
    if (detectors.length) data.append("detectors", detectors.join(","));
    if ($("frames").value) data.append("frames", $("frames").value);
    data.append("report", $("report").checked ? "yes" : "no");
    $("progress-box").hidden = false;
    $("result-box").hidden = true;
    $("upload-progress").value = 0;
    $("scan-progress").value = 0;
    submit.disabled = true;
    say("Uploading…");
    try {
      const body = await upload(data);
      $("upload-progress").value = 100;
      say(body.deduplicated ? "Scanned before: showing that scan." : "Uploaded; waiting for a worker…");
      follow(body.id);
    } catch (err) {
      say(err.message, true);
    } finally {
      submit.disabled = !chosen;
      refreshHistory();
    }
  });

  function follow(id) {
    clearTimeout(polling);
    const tick = async () => {
      try {
        const job = await fs.json(`../v1/scans/${id}`);
        $("scan-progress").value = Math.round(100 * job.progress);
        if (job.status === "done") { say("Done."); show(job); refreshHistory(); return; }
        if (job.status === "failed") { say(`The scan failed: ${job.error}`, true); refreshHistory(); return; }
        say(job.status === "queued" ? "Queued…" : `Scanning… ${Math.round(100 * job.progress)}%`);
        polling = setTimeout(tick, 500);
      } catch (err) {
        say(err.message, true);
      }
    };
    tick();
  }

  function show(job) {
    const box = $("verdicts");
    box.replaceChildren();
    const pick = $("report-detector");
    pick.replaceChildren();
    for (const entry of job.results || []) {
      const r = entry.result;
      let line;
      if (r.status === "ok") {
        line = fs.el("p", { class: `verdict ${r.verdict}` },
          `${r.verdict === "fake" ? "Fake" : "Real"}: ${fs.pct(r.probability)} probability of a deepfake`);
      } else {
        line = fs.el("p", { class: "verdict" }, r.status === "no_face" ? `No verdict: ${r.reason}` : `Failed: ${r.error}`);
      }
      box.append(fs.el("h3", {}, `${entry.detector} on ${r.path}`), line,
        fs.el("p", { class: "muted" }, `threshold ${r.threshold}; ${(r.tracks || []).length} face track(s); ` +
          `${(r.timeline || []).length} frames with a face`));
      if (entry.report) pick.append(fs.el("option", { value: entry.report }, entry.detector));
    }
    const hasReport = pick.options.length > 0;
    pick.hidden = $("report-pick-label").hidden = pick.options.length < 2;
    $("report-frame").hidden = !hasReport;
    $("result-box").hidden = false;
    if (hasReport) loadReport(pick.value);
  }

  async function loadReport(url) {
    const frame = $("report-frame");
    try {
      frame.srcdoc = await fs.text(url.replace(/^\//, "../"));
    } catch (err) {
      frame.srcdoc = "";
      say(`The report cannot be shown: ${err.message}`, true);
    }
  }
  $("report-detector").addEventListener("change", (e) => loadReport(e.target.value));

  async function refreshHistory(more = false) {
    offset = more ? offset + PAGE : 0;
    const body = document.getElementById("history");
    try {
      const page = await fs.json(`../v1/scans?limit=${PAGE}&offset=${offset}`);
      if (!more) body.replaceChildren();
      for (const job of page.items) {
        const open = fs.el("button", { type: "button", class: "secondary", "aria-label": `Open the scan of ${job.filename}`,
          onclick: () => { $("progress-box").hidden = false; follow(job.id); } }, "Open");
        const verdicts = (job.summary || []).map((v) => v.status === "ok"
          ? `${v.verdict} ${fs.pct(v.probability)}` : v.status.replace("_", " ")).join("; ");
        body.append(fs.el("tr", {}, fs.el("td", {}, job.filename),
          fs.el("td", {}, verdicts ? `${job.status}: ${verdicts}` : job.status),
          fs.el("td", {}, fs.when(job.created)), fs.el("td", {}, open)));
      }
      $("more").hidden = offset + PAGE >= page.total;
    } catch (err) {
      body.replaceChildren(fs.el("tr", {}, fs.el("td", { colspan: "4", class: "error" }, err.message)));
    }
  }
  $("more").addEventListener("click", () => refreshHistory(true));
  document.addEventListener("fakescope-token", () => { loadDetectors(); refreshHistory(); });

  loadDetectors();
  refreshHistory();
})();
