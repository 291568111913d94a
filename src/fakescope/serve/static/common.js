/* fakescope web page: shared helpers (the token, JSON calls, small DOM builders). */
"use strict";
const fs = {
  token() { return localStorage.getItem("fakescope-token") || ""; },
  headers() {
    const t = fs.token();
    return t ? { Authorization: "Bearer " + t } : {};
  },
  async json(url, options = {}) {
    const response = await fetch(url, { ...options, headers: { ...fs.headers(), ...(options.headers || {}) } });
    const text = await response.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
    if (!response.ok) {
      throw new Error((body && body.error) || `HTTP ${response.status}`);
    }
    return body;
  },
  async text(url) {
    const response = await fetch(url, { headers: fs.headers() });
    if (!response.ok) {
      let message = `HTTP ${response.status}`;
      try { message = (await response.json()).error || message; } catch (e) { /* keep */ }
      throw new Error(message);
    }
    return response.text();
  },
  async blobUrl(url) {
    const response = await fetch(url, { headers: fs.headers() });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return URL.createObjectURL(await response.blob());
  },
  el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  },
  when(seconds) {
    return seconds ? new Date(seconds * 1000).toLocaleString([], { dateStyle: "short", timeStyle: "short" }) : "";
  },
  pct(p) { return (100 * p).toFixed(1) + "\u202f%"; },
};

document.addEventListener("DOMContentLoaded", () => {
  const input = document.getElementById("token");
  if (!input) return;
  input.value = fs.token();
  input.addEventListener("change", () => {
    localStorage.setItem("fakescope-token", input.value.trim());
    document.dispatchEvent(new Event("fakescope-token"));
  });
});
