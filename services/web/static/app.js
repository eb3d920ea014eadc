// koabus dashboard: one WebSocket (reconnects by itself with backoff), state applied to the page,
// the candlestick chart with volume drawn on a <canvas> by the small renderer below.
"use strict";
(function () {
  const nf = new Intl.NumberFormat("ko-KR");
  const fmt = (n) => (n === null || n === undefined ? "-" : nf.format(n));
  const KST_MS = 9 * 3600 * 1000;
  const hhmm = (ms) => new Date(ms + KST_MS).toISOString().slice(11, 16);
  const hhmmss = (ms) => new Date(ms + KST_MS).toISOString().slice(11, 19);
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);

  const S = {
    codes: [], names: {}, quotes: {}, selected: params.get("code") || null, bars: [], book: null,
    trading: false, staleAfterMs: 5000, link: "connecting", wsOpen: false, lastDataAt: 0,
  };
  // what the browser test (and a curious user in the console) can read
  const probe = window.koabus = { quoteUpdates: 0, barsDrawn: 0, stale: true, messages: 0, reconnects: 0 };

  // ---- the socket ------------------------------------------------------------------------------
  let ws = null, retryMs = 500, retryTimer = null;
  function connect() {
    retryTimer = null;
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const q = S.selected ? "?code=" + encodeURIComponent(S.selected) : "";
    ws = new WebSocket(proto + "://" + location.host + "/ws" + q);
    ws.onopen = () => { S.wsOpen = true; retryMs = 500; updateBadge(); };
    ws.onmessage = (ev) => {
      let batch;
      try { batch = JSON.parse(ev.data); } catch (e) { return; }
      for (const m of Array.isArray(batch) ? batch : [batch]) { probe.messages++; apply(m); }
    };
    ws.onclose = () => {
      S.wsOpen = false; updateBadge();
      if (retryTimer === null) {
        const wait = Math.min(10000, retryMs) * (0.75 + Math.random() * 0.5);
        retryMs = Math.min(10000, retryMs * 2);
        probe.reconnects++;
        retryTimer = setTimeout(connect, wait);
      }
    };
    ws.onerror = () => { try { ws.close(); } catch (e) { /* closing anyway */ } };
  }
  function send(op) { if (ws && ws.readyState === 1) ws.send(JSON.stringify(op)); }

  // ---- messages ----------------------------------------------------------------------------------
  const handlers = {
    hello(m) {
      S.codes = m.codes; S.names = m.names || {}; S.trading = !!m.trading;
      S.staleAfterMs = (m.stale_after_s || 5) * 1000;
      if (!S.selected || !S.codes.includes(S.selected)) S.selected = S.codes[0];
      $("order-form").hidden = !S.trading;
      renderWatchlist(); renderTitle();
    },
    link(m) { S.link = m.state; $("link").textContent = m.state === "ready" ? "" : "브로커: " + m.state; updateBadge(); },
    quote(m) {
      const old = S.quotes[m.code];
      S.quotes[m.code] = m; S.lastDataAt = Date.now(); probe.quoteUpdates++;
      if (m.name) S.names[m.code] = m.name;
      renderQuote(m.code, old && old.price !== m.price);
      if (m.code === S.selected) renderTitle();
      updateBadge();
    },
    book(m) { if (m.code === S.selected) { S.book = m; S.lastDataAt = Date.now(); renderBook(); } },
    bars(m) { if (m.code === S.selected) { S.bars = m.bars; drawChart(); } },
    bar(m) {
      if (m.code !== S.selected) return;
      const b = m.bar, bars = S.bars;
      if (bars.length && bars[bars.length - 1][0] === b[0]) bars[bars.length - 1] = b;
      else if (!bars.length || bars[bars.length - 1][0] < b[0]) bars.push(b);
      else { const i = bars.findIndex((x) => x[0] === b[0]); if (i >= 0) bars[i] = b; }
      scheduleDraw();
    },
    orders(m) { renderOrders(m.orders); },
    fills(m) { renderFills(m.fills); },
    alerts(m) { renderAlerts(m.alerts); },
    health(m) { renderHealth(m); },
    order_result(m) { $("o-result").textContent = m.ok ? "주문 접수 " + (m.client_order_id || "") : "거부: " + m.error; },
  };
  function apply(m) { const h = handlers[m.t]; if (h) h(m); }

  // ---- freshness -----------------------------------------------------------------------------------
  function updateBadge() {
    const age = Date.now() - S.lastDataAt;
    const stale = !S.wsOpen || S.link !== "ready" || age > S.staleAfterMs;
    probe.stale = stale;
    const badge = $("badge");
    badge.className = "badge " + (stale ? "stale" : "live");
    badge.textContent = stale ? (S.wsOpen ? (S.link !== "ready" ? "STALE · 브로커 끊김" : "STALE · " + Math.round(age / 1000) + "s")
                                          : "STALE · 재연결 중") : "LIVE";
  }
  setInterval(updateBadge, 500);

  // ---- watchlist -----------------------------------------------------------------------------------
  const dirClass = (change) => (change > 0 ? "up" : change < 0 ? "down" : "flat");
  const arrow = (change) => (change > 0 ? "▲ " : change < 0 ? "▼ " : "");
  function renderWatchlist() {
    const body = $("watchlist");
    body.textContent = "";
    for (const code of S.codes) {
      const tr = document.createElement("tr");
      tr.id = "w-" + code;
      tr.dataset.code = code;
      tr.innerHTML = '<td><span class="name"></span><span class="code"></span></td>' +
        '<td class="num price">-</td><td class="num change">-</td><td class="num rate">-</td><td class="num volume">-</td>';
      tr.querySelector(".name").textContent = S.names[code] || code;
      tr.querySelector(".code").textContent = " " + code;
      tr.querySelector(".name").className = "name";
      tr.onclick = () => select(code);
      body.appendChild(tr);
      renderQuote(code, false);
    }
    markSelected();
  }
  function renderQuote(code, flash) {
    const tr = $("w-" + code), q = S.quotes[code];
    if (!tr || !q) return;
    const cls = dirClass(q.change);
    const price = tr.querySelector(".price");
    price.textContent = fmt(q.price); price.className = "num price " + cls + (flash ? " flash" : "");
    if (flash) setTimeout(() => price.classList.remove("flash"), 300);
    const ch = tr.querySelector(".change");
    ch.textContent = arrow(q.change) + fmt(Math.abs(q.change)); ch.className = "num change " + cls;
    const rate = tr.querySelector(".rate");
    rate.textContent = (q.rate > 0 ? "+" : "") + q.rate.toFixed(2) + "%"; rate.className = "num rate " + cls;
    tr.querySelector(".volume").textContent = fmt(q.volume);
  }
  function markSelected() {
    for (const tr of $("watchlist").children) tr.classList.toggle("selected", tr.dataset.code === S.selected);
  }
  function select(code) {
    if (code === S.selected) return;
    S.selected = code; S.bars = []; S.book = null;
    markSelected(); renderTitle(); renderBook(); drawChart();
    const url = new URL(location.href); url.searchParams.set("code", code); history.replaceState(null, "", url);
    send({ op: "select", code: code });
  }
  function renderTitle() {
    const code = S.selected, q = S.quotes[code];
    $("chart-title").textContent = (S.names[code] || code || "") + " " + (code || "");
    $("book-title").textContent = S.names[code] || code || "";
    const sub = $("chart-sub");
    if (q) { sub.textContent = fmt(q.price) + "  " + arrow(q.change) + fmt(Math.abs(q.change)) + " (" + q.rate.toFixed(2) + "%)";
      sub.className = dirClass(q.change); } else { sub.textContent = ""; }
    if (q && !$("o-price").value) $("o-price").value = q.price;
  }

  // ---- order book -------------------------------------------------------------------------------
  function renderBook() {
    const body = $("book"), b = S.book;
    body.textContent = "";
    if (!b) { body.innerHTML = '<tr><td colspan="3" class="empty">호가 대기 중</td></tr>'; return; }
    const prev = S.quotes[b.code] ? S.quotes[b.code].price - S.quotes[b.code].change : null;
    const priceCls = (p) => (prev === null || p === prev ? "flat" : p > prev ? "up" : "down");
    const row = (ask, price, bid) => {
      const tr = document.createElement("tr");
      for (const [text, cls] of [[ask, "num ask"], [price, "price"], [bid, "num bid"]]) {
        const td = document.createElement("td"); td.className = cls; td.textContent = text; tr.appendChild(td);
      }
      return tr;
    };
    for (let i = b.asks.length - 1; i >= 0; i--) {
      const [p, q] = b.asks[i]; const tr = row(fmt(q), fmt(p), ""); tr.children[1].classList.add(priceCls(p)); body.appendChild(tr);
    }
    for (const [p, q] of b.bids) { const tr = row("", fmt(p), fmt(q)); tr.children[1].classList.add(priceCls(p)); body.appendChild(tr); }
    const tot = row(fmt(b.total_ask), "총잔량", fmt(b.total_bid)); tot.classList.add("muted"); body.appendChild(tot);
  }

  // ---- orders, fills, alerts, health ------------------------------------------------------------
  const sideText = (s) => (/매수|2|buy/.test(s) ? "매수" : /매도|1|sell/.test(s) ? "매도" : s || "-");
  const sideCls = (s) => (sideText(s) === "매수" ? "up" : sideText(s) === "매도" ? "down" : "");
  function fillTable(id, rows, cols, emptyText) {
    const body = $(id); body.textContent = "";
    if (!rows.length) { const tr = document.createElement("tr"); const td = document.createElement("td");
      td.colSpan = cols; td.className = "empty"; td.textContent = emptyText; tr.appendChild(td); body.appendChild(tr); return; }
    for (const cells of rows) {
      const tr = document.createElement("tr");
      for (const [text, cls] of cells) { const td = document.createElement("td"); td.textContent = text; td.className = cls || ""; tr.appendChild(td); }
      body.appendChild(tr);
    }
  }
  function renderOrders(orders) {
    fillTable("orders", orders.map((o) => [[o.order_no], [o.name || o.code], [sideText(o.side), sideCls(o.side)],
      [fmt(o.qty), "num"], [fmt(o.price), "num"], [fmt(o.unfilled), "num"], [o.status]]), 7, "미체결 주문 없음");
  }
  function renderFills(fills) {
    fillTable("fills", fills.map((f) => [[f.at ? hhmmss(f.at) : "-"], [f.name || f.code], [sideText(f.side), sideCls(f.side)],
      [fmt(f.qty), "num"], [fmt(f.price), "num"]]), 5, "체결 없음");
  }
  function renderAlerts(alerts) {
    const ul = $("alerts"); ul.textContent = "";
    if (!alerts.length) { const li = document.createElement("li"); li.className = "empty"; li.textContent = "알림 없음"; ul.appendChild(li); return; }
    for (const a of alerts) {
      const li = document.createElement("li"); li.className = "sev-" + (a.severity || "info");
      li.textContent = (a.at ? hhmmss(a.at) + "  " : "") + (a.title || a.rule || "") + (a.text ? " — " + a.text : "");
      ul.appendChild(li);
    }
  }
  const GOOD = /^(ready|connected|running|ok|idle|recording)$/;
  function renderHealth(m) {
    if (m.clock) $("clock").textContent = m.clock;
    fillTable("health", m.services.map((s) => [[s.service], [s.stale ? "응답 없음" : s.state || "-", s.stale || !GOOD.test(s.state || "") ? "state-bad" : "state-ok"],
      [s.lag_s === null || s.lag_s === undefined ? "-" : s.lag_s.toFixed(2) + "s", "num"], [s.age_s.toFixed(1) + "s 전", "num"]]), 4, "하트비트 대기 중");
    const parts = [];
    for (const [kind, p] of Object.entries(m.pacing || {})) {
      parts.push((kind === "tr" ? "조회" : kind === "order" ? "주문" : kind) + " 페이싱: " + (p.throttled ? "제한 중 " + (p.wait_s || 0).toFixed(1) + "s" : "정상") + " · 대기 " + (p.queued || 0));
    }
    $("pacing").textContent = parts.join("   ");
    if (m.link) { S.link = m.link; updateBadge(); }
  }

  // ---- the chart -------------------------------------------------------------------------------------
  const MAX_SHOWN = 150;
  let drawPending = false;
  function scheduleDraw() { if (!drawPending) { drawPending = true; requestAnimationFrame(() => { drawPending = false; drawChart(); }); } }
  window.addEventListener("resize", scheduleDraw);
  function niceStep(range, target) {
    const raw = range / target, mag = Math.pow(10, Math.floor(Math.log10(raw || 1)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
    return 10 * mag;
  }
  function drawChart() {
    const canvas = $("chart"), dpr = window.devicePixelRatio || 1;
    const W = canvas.clientWidth, H = canvas.clientHeight;
    if (canvas.width !== Math.round(W * dpr) || canvas.height !== Math.round(H * dpr)) {
      canvas.width = Math.round(W * dpr); canvas.height = Math.round(H * dpr);
    }
    const g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.fillStyle = "#ffffff"; g.fillRect(0, 0, W, H);
    const css = getComputedStyle(document.documentElement);
    const UP = css.getPropertyValue("--up").trim() || "#d6293e", DOWN = css.getPropertyValue("--down").trim() || "#1565d8";
    const axisW = 64, top = 8, bottomAxis = 18, gap = 6;
    const plotW = W - axisW - 4, priceH = Math.round((H - top - bottomAxis) * 0.74), volTop = top + priceH + gap;
    const volH = H - bottomAxis - volTop;
    g.font = "11px system-ui, sans-serif"; g.textBaseline = "middle";
    const shown = Math.min(S.bars.length, MAX_SHOWN) || 1;
    const slot = Math.max(4, Math.min(14, Math.floor(plotW / Math.max(shown, 60))));
    const bars = S.bars.slice(-Math.min(shown, Math.floor(plotW / slot)));
    probe.barsDrawn = S.bars.length ? bars.length : 0;
    if (!bars.length) {
      g.fillStyle = "#6b7280"; g.textAlign = "center"; g.fillText("차트 데이터 대기 중", W / 2, H / 2); return;
    }
    let lo = Infinity, hi = -Infinity, vmax = 1;
    for (const b of bars) { lo = Math.min(lo, b[3]); hi = Math.max(hi, b[2]); vmax = Math.max(vmax, b[5]); }
    if (hi === lo) { hi += 1; lo -= 1; }
    const pad = (hi - lo) * 0.06; hi += pad; lo -= pad;
    const y = (p) => top + (hi - p) / (hi - lo) * priceH;
    const x0 = Math.max(0, plotW - bars.length * slot);
    // grid and price axis
    const step = niceStep(hi - lo, 6);
    g.strokeStyle = "#eef0f3"; g.lineWidth = 1; g.fillStyle = "#6b7280"; g.textAlign = "left";
    const lastY = y(bars[bars.length - 1][4]);
    for (let p = Math.ceil(lo / step) * step; p <= hi; p += step) {
      const yy = Math.round(y(p)) + 0.5;
      g.beginPath(); g.moveTo(0, yy); g.lineTo(plotW, yy); g.stroke();
      if (Math.abs(yy - lastY) > 14) g.fillText(fmt(Math.round(p)), plotW + 6, yy);  // not under the last-price tag
    }
    g.beginPath(); g.moveTo(0, volTop - gap / 2 + 0.5); g.lineTo(plotW, volTop - gap / 2 + 0.5); g.strokeStyle = "#dfe2e6"; g.stroke();
    // time axis: a label every ~70 px; a dashed line and the date where a new session starts
    g.textAlign = "center";
    const every = Math.max(1, Math.ceil(70 / slot));
    const day = (ms) => new Date(ms + KST_MS).toISOString().slice(5, 10).replace("-", "/");
    const starts = bars.map((b, i) => i > 0 && day(b[0]) !== day(bars[i - 1][0]));
    const nearStart = (i) => starts.some((s, j) => s && Math.abs(i - j) * slot < 45);
    bars.forEach((b, i) => {
      const xx = Math.round(x0 + i * slot) + 0.5;
      if (starts[i]) {
        g.strokeStyle = "#b8bec7"; g.setLineDash([4, 3]);
        g.beginPath(); g.moveTo(xx, top); g.lineTo(xx, H - bottomAxis); g.stroke(); g.setLineDash([]);
        g.fillStyle = "#4b5563"; g.fillText(day(b[0]), xx, H - bottomAxis / 2);
        return;
      }
      if (i % every !== 0 || i < 2 || i > bars.length - 3 || nearStart(i)) return;
      g.strokeStyle = "#f3f4f6"; g.beginPath(); g.moveTo(xx, top); g.lineTo(xx, H - bottomAxis); g.stroke();
      g.fillStyle = "#6b7280"; g.fillText(hhmm(b[0]), xx, H - bottomAxis / 2);
    });
    // candles and volume
    const body = Math.max(1, slot - 2);
    bars.forEach((b, i) => {
      const [, o, h, l, c, v] = b, up = c >= o, color = up ? UP : DOWN;
      const xx = x0 + i * slot, cx = Math.round(xx + slot / 2) + 0.5;
      g.strokeStyle = color; g.fillStyle = color;
      g.beginPath(); g.moveTo(cx, y(h)); g.lineTo(cx, y(l)); g.stroke();
      const yo = y(o), yc = y(c);
      g.fillRect(Math.round(xx + 1), Math.min(yo, yc), body, Math.max(1, Math.abs(yc - yo)));
      const vh = v / vmax * volH;
      g.globalAlpha = 0.55; g.fillRect(Math.round(xx + 1), volTop + volH - vh, body, vh); g.globalAlpha = 1;
    });
    // last price marker
    const last = bars[bars.length - 1][4], yl = Math.round(y(last)) + 0.5;
    const lastUp = bars[bars.length - 1][4] >= bars[bars.length - 1][1];
    g.setLineDash([3, 3]); g.strokeStyle = "#9aa1ab"; g.beginPath(); g.moveTo(0, yl); g.lineTo(plotW, yl); g.stroke(); g.setLineDash([]);
    g.fillStyle = lastUp ? UP : DOWN; g.fillRect(plotW + 2, yl - 8, axisW - 2, 16);
    g.fillStyle = "#fff"; g.textAlign = "left"; g.fillText(fmt(last), plotW + 6, yl);
    g.fillStyle = "#6b7280"; g.fillText("거래량", 4, volTop + 7);
    g.fillText(fmt(vmax), plotW + 6, volTop + 7);
  }

  // ---- orders from the page (only shown when the server allows trading) --------------------------
  function order(side) {
    send({ op: "order", id: String(Date.now()), code: S.selected, side: side,
      qty: parseInt($("o-qty").value, 10), price: parseInt($("o-price").value, 10) });
  }
  $("o-buy").onclick = () => order("buy");
  $("o-sell").onclick = () => order("sell");

  renderBook(); drawChart(); updateBadge();
  connect();
})();
