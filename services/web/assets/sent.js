// Live updates for the "Sent mail" page: polls /sent.json (same origin, the
// session cookie) and redraws the list with DOM calls only (textContent, never
// innerHTML), so nothing the server returns can become markup. The page works
// without this file; it only saves the reload.
"use strict";
(function () {
  const list = document.getElementById("sent-list");
  if (!list) return;
  const status = document.getElementById("live-status");
  const pager = document.getElementById("sent-pager");
  const source = list.getAttribute("data-source");
  const FINAL = new Set(["delivered", "bounced", "expired"]);
  let timer = null;

  function pad(n) { return String(n).padStart(2, "0"); }
  function formatTime(unix) {
    const d = new Date(unix * 1000);
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " +
      pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds()) + " UTC";
  }
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    if (attrs) for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function badge(state) { return el("span", { class: "state state-" + state }, state); }
  function timeEl(unix) { return el("time", null, formatTime(unix)); }

  function attemptItem(a) {
    const li = el("li");
    li.append(timeEl(a.at), " attempt: ", badge(a.outcome));
    if (a.mx) li.append(" at ", el("span", { class: "mx" }, a.mx));
    if (a.reply) {
      li.append(" ", el("span", { class: "reply-from" }, a.remote ? "the server said" : "Postline said"), " ",
        el("q", { class: "reply" }, a.reply));
    }
    return li;
  }

  function messageEl(m) {
    const art = el("article", { class: "message", "data-queue-id": m.queue_id });
    const h = el("h2");
    const link = el("a", { href: "/sent/" + encodeURIComponent(m.queue_id) });
    link.append(el("span", { class: "subject" }, m.subject || "(no subject)"));
    const when = timeEl(m.created);
    when.setAttribute("class", "sent-at");
    h.append(link, " ", when);
    const dl = el("dl", { class: "meta" });
    dl.append(el("dt", null, "From"), el("dd", null, m.mail_from || "<>"));
    if (m.message_id) dl.append(el("dt", null, "Message-ID"), el("dd", null, m.message_id));
    dl.append(el("dt", null, "Queue id"), el("dd", null, m.queue_id));
    const ul = el("ul", { class: "recipients" });
    for (const r of m.recipients) {
      const li = el("li", { class: "recipient", "data-recipient": r.address, "data-state": r.state });
      const p = el("p");
      p.append(el("span", { class: "address" }, r.address), " ", badge(r.state));
      const ol = el("ol", { class: "timeline" });
      const first = el("li");
      first.append(timeEl(m.created), " queued");
      ol.append(first);
      for (const a of r.attempts) ol.append(attemptItem(a));
      if ((r.state === "deferred" || r.state === "queued") && r.attempts.length && r.next_attempt > 0) {
        const d = el("li");
        d.append("deferred until ", timeEl(r.next_attempt));
        ol.append(d);
      }
      if (FINAL.has(r.state)) {
        const f = el("li", { class: "final" });
        f.append(badge(r.state));
        ol.append(f);
      }
      li.append(p, ol);
      ul.append(li);
    }
    art.append(h, dl, ul);
    return art;
  }

  // The newer/older links, as the server draws them (only same-site paths).
  function renderPager(newer, older) {
    if (!pager) return;
    const sameSite = (u) => typeof u === "string" && (u === "/sent" || u.startsWith("/sent?"));
    const ul = el("ul");
    if (sameSite(newer)) { const li = el("li"); li.append(el("a", { rel: "prev", href: newer }, "Newer messages")); ul.append(li); }
    if (sameSite(older)) { const li = el("li"); li.append(el("a", { rel: "next", href: older }, "Older messages")); ul.append(li); }
    if (!ul.children.length) { pager.replaceChildren(); return; }
    // Links the user may be on (focus) stay where they are when nothing changed.
    const current = pager.querySelectorAll("a");
    if (current.length === ul.children.length &&
        [...current].every((a, i) => a.getAttribute("href") === ul.children[i].firstChild.getAttribute("href"))) return;
    const nav = el("nav", { class: "pager", "aria-label": "Pages" });
    nav.append(ul);
    pager.replaceChildren(nav);
  }

  function render(data) {
    const frag = document.createDocumentFragment();
    if (!data.messages.length) frag.append(el("p", { class: "empty" }, "No sent messages are kept in the queue."));
    for (const m of data.messages) frag.append(messageEl(m));
    list.replaceChildren(frag);
    renderPager(data.newer, data.older);
    const pending = data.messages.some((m) => m.recipients.some((r) => !FINAL.has(r.state)));
    return pending;
  }

  async function poll() {
    let pending = true;
    try {
      const res = await fetch(source, { credentials: "same-origin", cache: "no-store" });
      if (res.status === 401) {
        if (status) status.textContent = "Your session ended; sign in again to see updates.";
        return;  // no more polling
      }
      if (!res.ok) throw new Error("HTTP " + res.status);
      pending = render(await res.json());
      if (status) status.textContent = "Updated " + formatTime(Math.floor(Date.now() / 1000));
    } catch (e) {
      if (status) status.textContent = "Cannot update right now; retrying.";
    }
    // Faster while something is still on its way.
    timer = setTimeout(poll, pending ? 2000 : 10000);
  }

  document.addEventListener("visibilitychange", () => {
    if (document.hidden) { clearTimeout(timer); timer = null; }
    else if (timer === null) poll();
  });
  timer = setTimeout(poll, 1000);
})();
