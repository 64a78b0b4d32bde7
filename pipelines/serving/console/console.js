"use strict";
// The agent console (docs/serving.md, "The agent console"). Everything comes from the read API
// with the agent's key; nothing is loaded from another host.

const KEY_STORE = "profilake.console.apiKey";
const UNDO_POLL_MS = 700;
const UNDO_POLL_LIMIT = 600; // about 7 minutes, then the agent is told to look again later
const PROFILE_ID = /^p_[0-9a-f]{16}$/;
const $ = (id) => document.getElementById(id);

class KeyRefused extends Error {}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function shown(value) {
  if (value === null || value === undefined || value === "") return "—";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function age(seconds) {
  const s = Math.max(0, Math.round(seconds || 0));
  if (s < 120) return s + " s";
  if (s < 7200) return Math.round(s / 60) + " min";
  if (s < 172800) return Math.round(s / 3600) + " h";
  return Math.round(s / 86400) + " days";
}

function when(iso) {
  if (!iso) return "—";
  return String(iso).replace("T", " ").replace(/\.\d+Z$/, "Z").replace(/Z$/, " UTC");
}

function fill(id, ...children) {
  const body = $(id).querySelector(".body");
  body.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined));
}

function pairs(rows) {
  return el("dl", null, rows.filter(([, v]) => v !== undefined).map(
    ([k, v]) => [el("dt", null, k), el("dd", null, v instanceof Node ? v : shown(v))]));
}

// --- the key -------------------------------------------------------------------------------

function apiKey() { return sessionStorage.getItem(KEY_STORE) || ""; }

function askForKey(message) {
  sessionStorage.removeItem(KEY_STORE);
  mayUndo = true; // a new key may be an admin key
  current = null; // what was shown stays behind the old key
  $("result").hidden = true;
  $("status").textContent = "";
  $("main").hidden = true;
  $("change-key").hidden = true;
  $("key-panel").hidden = false;
  $("key-message").textContent = message || "";
  $("key").value = "";
  $("key").focus();
}

function showMain() {
  $("key-panel").hidden = true;
  $("main").hidden = false;
  $("change-key").hidden = false;
  $("q").focus();
}

async function api(path, options) {
  const opts = options || {};
  const headers = { "X-API-Key": apiKey(), ...(opts.headers || {}) };
  const r = await fetch(path, { ...opts, headers });
  if (r.status === 401) {
    askForKey("The API refused this key (401). Check it and enter it again.");
    throw new KeyRefused();
  }
  let body = null;
  try { body = await r.json(); } catch (_e) { body = null; }
  return { status: r.status, ok: r.ok, body };
}

function detail(res) {
  const d = res.body && res.body.detail;
  if (!d) return "HTTP " + res.status;
  return typeof d === "string" ? d : d.map((e) => e.msg).join("; ");
}

$("key-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  sessionStorage.setItem(KEY_STORE, $("key").value.trim());
  try {
    // Any authorized read tells whether the key is known: an unknown profile answers 404.
    const res = await api("/v1/profiles/p_0000000000000000");
    showMain();
    if (res.status !== 404 && !res.ok) $("status").textContent = "Key accepted; " + detail(res);
  } catch (err) {
    if (!(err instanceof KeyRefused)) askForKey("The API is unreachable: " + err.message);
  }
});

$("change-key").addEventListener("click", () => askForKey(""));

// --- look-up ---------------------------------------------------------------------------------

function candidates(q, type) {
  if (type !== "auto") return [type];
  if (PROFILE_ID.test(q)) return ["profile_id"];
  if (q.includes("@") && !q.startsWith("@")) return ["email"];
  if (/^\+?[\d\s().\-\/]{6,}$/.test(q)) return ["phone", "customer_id", "device_id"];
  if (/^[a-z]+:@?[^\s:]+$/i.test(q)) return ["social_handle", "device_id", "anonymous_id"];
  return ["customer_id", "device_id", "anonymous_id"];
}

function lookupPath(type, q) {
  if (type === "profile_id") return "/v1/profiles/" + encodeURIComponent(q);
  return "/v1/lookup/" + type + "/" + encodeURIComponent(q);
}

async function lookUp(q, type) {
  $("status").textContent = "Looking up…";
  $("status").className = "";
  let last = null;
  for (const t of candidates(q, type)) {
    const res = await api(lookupPath(t, q));
    if (res.ok) {
      $("status").textContent = "Found by " + t.replace("_", " ") + ".";
      return res.body;
    }
    last = res;
    if (res.status !== 404 && res.status !== 422) break;
  }
  $("result").hidden = true;
  $("status").className = "error";
  $("status").textContent = last && last.status === 404
    ? "No customer found for “" + q + "”."
    : "Look-up failed: " + detail(last);
  return null;
}

$("lookup-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const q = $("q").value.trim();
  if (!q) return;
  try {
    const profile = await lookUp(q, $("id-type").value);
    if (profile) await showProfile(profile);
  } catch (err) {
    if (!(err instanceof KeyRefused)) {
      $("status").className = "error";
      $("status").textContent = "The API is unreachable: " + err.message;
    }
  }
});

// --- the profile ------------------------------------------------------------------------------

let current = null; // the profile id shown

async function showProfile(p) {
  current = p.profile_id;
  $("result").hidden = false;
  renderProfile(p);
  renderSegments(p);
  renderChurn(p);
  renderTickets(p);
  renderCart(p);
  renderActions(p);
  fill("timeline", el("p", { class: "muted" }, "loading…"));
  fill("merges", el("p", { class: "muted" }, "loading…"));
  await Promise.all([loadTimeline(p.profile_id), loadMerges(p.profile_id)]);
}

function renderProfile(p) {
  const ids = Object.entries(p.lookup_ids || {}).map(([t, vals]) =>
    t + " ×" + vals.length + (/^[0-9a-f]{64}$/.test(vals[0] || "") ? " (hashed)" : ": " + vals.join(", ")));
  fill("profile",
    el("p", { class: "name" }, el("strong", { id: "profile-name" }, p.display_name || p.first_name || "(no name)"),
      " ", el("code", { id: "profile-id" }, p.profile_id)),
    p.merged_from ? el("p", { class: "muted", id: "merged-from" },
      "You asked for " + p.merged_from + ", merged into this profile.") : null,
    p.personalization_allowed === false ? el("p", { class: "error" },
      "Personalization withdrawn: only the minimum is served.") : null,
    pairs([
      ["tier", p.account_tier], ["language", p.language], ["country", p.country],
      ["identifiers", ids.length ? el("ul", null, ids.map((t) => el("li", null, t))) : "—"],
      ["net spend", p.net_spend], ["last order", p.last_order_id ? p.last_order_id + " · " + when(p.last_order_at) : undefined],
      ["last contact", when(p.last_contact_at)], ["avg CSAT", p.avg_csat],
      ["version", p.profile_version], ["updated", when(p.updated_at)],
      ["served from", p.source + " · updated " + age(p.staleness_s) + " ago"],
    ]));
}

function renderSegments(p) {
  const reasons = {};
  for (const r of p.segment_reasons || []) reasons[r.segment] = r;
  const segs = p.rule_segments || [];
  fill("segments",
    pairs([["primary", p.primary_segment], ["cluster", p.cluster_name], ["RFM", p.rfm_label],
      ["as of", p.segments_as_of ? when(p.segments_as_of) : undefined]]),
    segs.length
      ? el("ul", { id: "segment-list" }, segs.map((s) => {
        const r = reasons[s];
        return el("li", { class: "segment", "data-segment": s }, el("strong", null, s),
          r ? el("div", { class: "reason" }, "because " + r.condition + (r.kept ? " (kept: still near the threshold)" : "")) : null);
      }))
      : el("p", { class: "muted" }, "in no rule segment"));
}

function renderChurn(p) {
  const band = p.churn_band;
  const reasons = p.churn_reasons || [];
  fill("churn",
    el("p", null, band ? el("span", { class: "badge band-" + band, id: "churn-band" }, band + " risk") : "no churn score",
      p.churn_score !== undefined && p.churn_score !== null ? " score " + Number(p.churn_score).toFixed(2) : ""),
    reasons.length ? el("ul", { id: "churn-reasons" }, reasons.map((r) => el("li", { class: "reason" }, r))) : null);
}

function renderTickets(p) {
  const t = p.last_ticket;
  fill("tickets",
    el("p", null, el("strong", { id: "open-tickets" }, shown(p.open_tickets ?? 0)), " open",
      (p.open_ticket_ids || []).length ? ": " + p.open_ticket_ids.join(", ") : ""),
    t ? el("div", null, el("div", { class: "muted" }, "latest ticket"),
      pairs([["ticket", t.ticket_id], ["status", t.status], ["category", t.category],
        ["priority", t.priority], ["channel", t.channel], ["at", when(t.at)]])) : null);
}

function renderCart(p) {
  const lines = p.cart || [];
  fill("cart",
    lines.length
      ? el("table", { id: "cart-lines" },
        el("tr", null, ["sku", "category", "qty", "unit price", "added"].map((h) => el("th", null, h))),
        lines.map((l) => el("tr", null, [l.sku, l.category, l.quantity, l.unit_price, when(l.added_at)].map((v) => el("td", null, shown(v))))))
      : el("p", { class: "muted" }, "empty"),
    pairs([["value", p.cart_value], ["intent", p.intent], ["suggest", p.complementary_category]]));
}

function renderActions(p) {
  const actions = [...(p.next_best_actions || [])].sort((a, b) => (a.priority ?? 99) - (b.priority ?? 99));
  fill("actions", actions.length
    ? el("ol", { id: "action-list" }, actions.map((a) => el("li", { "data-action": a.name },
      el("strong", null, a.name), " — ", a.hint)))
    : el("p", { class: "muted" }, "none"));
}

// --- the timeline -----------------------------------------------------------------------------

async function loadTimeline(pid) {
  const res = await api("/v1/profiles/" + pid + "/history?limit=50");
  if (pid !== current) return;
  if (!res.ok) {
    fill("timeline", el("p", { class: "muted" }, "change history unavailable: " + detail(res)));
    return;
  }
  const entries = res.body.entries;
  fill("timeline",
    entries.length ? el("ol", { id: "timeline-list" }, entries.map((e) => el("li", {
      class: "entry " + e.change, "data-profile-version": e.profile_version, "data-export-version": e.export_version,
    },
    el("span", { class: "when" }, when(e.committed_at)), " · ", e.change,
    e.profile_version !== null ? " · version " + e.profile_version : "",
    e.changed.length ? el("ul", null, e.changed.map((c) => el("li", { class: "field" },
      c.field + ": " + shown(c.old) + " → " + shown(c.new)))) : null)))
      : el("p", { class: "muted" }, "no changes in the export's recent history"),
    res.body.more ? el("p", { class: "muted" }, "Older changes are not shown.") : null);
}

// --- merges and undo --------------------------------------------------------------------------

let mayUndo = true; // false once the API said 403 to this key

async function loadMerges(pid) {
  const res = await api("/v1/profiles/" + pid + "/merges");
  if (pid !== current) return;
  if (res.status === 404 || res.status === 405) {
    fill("merges", el("p", { class: "muted", id: "merges-unavailable" }, "merges unavailable"));
    return;
  }
  if (!res.ok) {
    fill("merges", el("p", { class: "muted" }, "merges unavailable: " + detail(res)));
    return;
  }
  const merges = Array.isArray(res.body) ? res.body : [];
  fill("merges",
    merges.length ? el("ul", { id: "merge-list" }, merges.map(mergeItem)) : el("p", { class: "muted" }, "no merges"),
    el("p", { class: "error", id: "merge-message", role: "alert" }));
}

function mergeItem(m) {
  const li = el("li", { class: "merge", "data-merge-id": m.merge_id, "data-undone": String(!!m.undone) },
    el("code", null, m.merged_profile_id), " merged into ", el("code", null, m.survivor_profile_id),
    " via " + m.id_type + " · " + when(m.merged_at));
  const status = el("span", { class: "merge-status" });
  if (m.undone) {
    status.className += " undone";
    status.textContent = "undone";
  } else if (mayUndo) {
    status.append(undoButton(m, status));
  }
  li.append(status);
  return li;
}

function undoButton(m, status) {
  const button = el("button", { type: "button", class: "undo" }, "Undo merge");
  button.addEventListener("click", async () => {
    if (!button.dataset.armed) { // a second click confirms: an undo splits a customer in two
      button.dataset.armed = "1";
      button.textContent = "Confirm undo";
      return;
    }
    button.disabled = true;
    try {
      await undo(m, status);
    } catch (err) {
      if (!(err instanceof KeyRefused)) status.textContent = "undo failed: " + err.message;
    }
  });
  return button;
}

async function undo(m, status) {
  const res = await api("/v1/merges/" + encodeURIComponent(m.merge_id) + "/undo", { method: "POST" });
  if (res.status === 403) {
    mayUndo = false;
    for (const b of document.querySelectorAll("button.undo")) b.remove();
    $("merge-message").textContent = "This API key may not undo merges (admin keys only).";
    return;
  }
  if (res.status !== 202) {
    status.textContent = "undo refused: " + detail(res);
    return;
  }
  status.replaceChildren(el("span", { class: "running" }, "undo running…"));
  const undoId = res.body.undo_id;
  for (let i = 0; i < UNDO_POLL_LIMIT; i++) {
    await new Promise((done) => setTimeout(done, UNDO_POLL_MS));
    const s = await api("/v1/undos/" + encodeURIComponent(undoId));
    const state = s.ok ? s.body.status : "unknown";
    if (state === "done") {
      // The merge list and the profile both changed: show them as the API now has them.
      const pid = current;
      const fresh = await api("/v1/profiles/" + pid);
      if (fresh.ok) await showProfile(fresh.body); else await loadMerges(pid);
      return;
    }
    if (state === "failed") {
      status.replaceChildren(el("span", { class: "error" }, "undo failed: " + shown(s.body.error)));
      return;
    }
  }
  status.textContent = "undo still running: look again later";
}

// --- start ------------------------------------------------------------------------------------

if (apiKey()) showMain(); else askForKey("");
