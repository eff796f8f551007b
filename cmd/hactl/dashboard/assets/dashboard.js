// hactl dashboard: renders /api/cluster (the server's latest poll of the
// nodes) and, for the graphs, each node's monitor API through
// /api/node/NODE/... . Text from the cluster is only ever set as text,
// never parsed as HTML. Graphs load when they scroll into view, the day
// span first; other spans only when chosen. The marks hactl-cluster and
// hactl-graph (the Performance API) say when the cluster and the first
// graph were drawn.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const SVG = 'http://www.w3.org/2000/svg';
  const CHART_REFRESH_MS = 60000;

  let view = null;
  let span = 'day';
  let source = '';
  const seriesOf = new Map(); // node -> Promise of its series list
  const charts = new Map(); // series -> {box, plot, loadedAt, span}
  let observer = null;

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c instanceof Node ? c : String(c));
    return e;
  }
  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function stateWord(word, good) {
    return el('span', { class: 'state ' + (good === true ? 'ok' : good === false ? 'bad' : 'warn') }, word);
  }
  function nodeGood(n) {
    if (n.state === 'up') return true;
    if (n.state === 'standby' || n.state === 'maintenance') return undefined;
    return false;
  }

  async function getJSON(url) {
    const r = await fetch(url, { credentials: 'same-origin', cache: 'no-store' });
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    if (!r.ok) throw new Error((body && body.error) || r.status + ' ' + r.statusText);
    return body;
  }

  function fill(tbody, rows) {
    tbody.replaceChildren(...rows);
  }

  function renderMap(v) {
    const map = $('map');
    const n = v.nodes.length;
    const w = 640, h = n > 8 ? 480 : 360;
    const cx = w / 2, cy = h / 2, r = Math.min(w, h) / 2 - 55;
    map.setAttribute('viewBox', `0 0 ${w} ${h}`);
    const pos = new Map();
    v.nodes.forEach((node, i) => {
      const a = (2 * Math.PI * i) / Math.max(n, 1) - Math.PI / 2;
      pos.set(node.name, n === 1 ? [cx, cy] : [cx + r * Math.cos(a), cy + r * Math.sin(a)]);
    });
    const parts = [];
    const perPair = new Map();
    for (const l of v.links) perPair.set(l.from + ' ' + l.to, (perPair.get(l.from + ' ' + l.to) || 0) + 1);
    const seen = new Map();
    for (const l of v.links) {
      const a = pos.get(l.from), b = pos.get(l.to);
      if (!a || !b) continue;
      const pair = l.from + ' ' + l.to;
      const k = seen.get(pair) || 0, m = perPair.get(pair);
      seen.set(pair, k + 1);
      // Several links between the same pair are drawn side by side, each
      // labelled at its own point along the way.
      const dx = b[0] - a[0], dy = b[1] - a[1], len = Math.hypot(dx, dy) || 1;
      const off = (k - (m - 1) / 2) * 8;
      const ox = (-dy / len) * off, oy = (dx / len) * off;
      const line = svg('line', { x1: a[0] + ox, y1: a[1] + oy, x2: b[0] + ox, y2: b[1] + oy, class: 'link' + (l.up ? '' : ' down') });
      line.append(svg('title', {}, `${l.from} – ${l.to} on ${l.link}: ${l.up ? 'up' : 'DOWN'}`));
      parts.push(line);
      const f = 0.3 + (0.4 * (k + 1)) / (m + 1);
      parts.push(svg('text', { x: a[0] + dx * f + ox + 4, y: a[1] + dy * f + oy, class: 'linklabel' }, `${l.link} ${l.up ? 'up' : 'DOWN'}`));
    }
    for (const node of v.nodes) {
      const [x, y] = pos.get(node.name);
      const g = svg('g', { class: 'node' + (nodeGood(node) === false ? ' bad' : ''), 'data-node': node.name });
      g.append(svg('rect', { x: x - 62, y: y - 30, width: 124, height: 60, rx: 6 }));
      g.append(svg('text', { x, y: y - 12, class: 'name' }, node.name));
      g.append(svg('text', { x, y: y + 5 }, node.state.toUpperCase()));
      g.append(svg('text', { x, y: y + 21, 'data-holds': node.holds.join(',') }, node.holds.length ? 'holds ' + node.holds.join(', ') : '—'));
      parts.push(g);
    }
    map.replaceChildren(...parts);
  }

  function render(v) {
    $('cluster').textContent = v.cluster;
    const when = new Date(v.updated);
    $('updated').textContent = `updated ${when.toLocaleTimeString()} · every ${v.refresh_s}s`;
    renderMap(v);

    fill($('nodes').tBodies[0], v.nodes.map((n) => el('tr', { 'data-node': n.name },
      el('th', { scope: 'row' }, n.name, n.monitored ? '' : ' (not monitored)'),
      el('td', {}, stateWord(n.state, nodeGood(n))),
      el('td', { class: 'holds' }, n.holds.join(', ') || '—', n.polls && n.polls.length ? ` · polls ${n.polls.join(', ')}` : ''),
      el('td', {}, n.agent_version ? `${n.agent_version}, ${n.healthy ? 'healthy' : 'UNHEALTHY'}` : '—'),
      el('td', { class: 'problem' }, n.error || ''))));

    fill($('groups').tBodies[0], v.groups.map((g) => el('tr', { 'data-group': g.name },
      el('th', { scope: 'row' }, g.name),
      el('td', {}, stateWord(g.state, g.state === 'running' ? true : false)),
      el('td', { class: 'holder' }, g.holders.join(', ') || 'nobody'),
      el('td', {}, g.vips.join(', ') || '—'),
      el('td', {}, g.nodes.join(', ')))));

    fill($('links').tBodies[0], v.links.length ? v.links.map((l) => el('tr', {},
      el('td', {}, `${l.from} – ${l.to}`),
      el('td', {}, l.link),
      el('td', {}, stateWord(l.up ? 'up' : 'down', l.up)),
      el('td', {}, l.loss_pct.toFixed(1) + ' %'),
      el('td', {}, l.rtt_ms.toFixed(2) + ' ms'))) : [el('tr', {}, el('td', { colspan: 5 }, 'no member reports its links'))]);

    const services = $('services');
    services.replaceChildren(...(v.services.length ? v.services.map((s) => el('div', { class: 'scroll' },
      el('table', {},
        el('caption', {}, `${s.name} (${s.address}) — live on ${s.live_on.join(', ') || 'no node'}`),
        el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Real server'), el('th', { scope: 'col' }, 'Address'), el('th', { scope: 'col' }, 'Health'), el('th', { scope: 'col' }, 'Why'))),
        el('tbody', {}, ...s.real_servers.map((rs) => el('tr', {},
          el('td', {}, rs.name), el('td', {}, rs.address),
          el('td', {}, stateWord(rs.health, rs.health === 'up' ? true : rs.health === 'down' ? false : undefined)),
          el('td', {}, rs.reason || ''))))))) : [el('p', { class: 'note' }, 'no virtual services')]));

    const events = $('events');
    events.replaceChildren(...v.events.slice(0, 200).map((e) => el('li', { 'data-kind': e.kind },
      el('time', { datetime: e.time }, new Date(e.time).toLocaleString()), ' ',
      el('span', { class: 'kind' }, e.kind.replace(/_/g, ' ')),
      e.detail ? ' — ' + e.detail : '',
      e.group && !(e.detail || '').includes(e.group) ? ` (group ${e.group})` : '',
      e.node && !(e.detail || '').includes(e.node) ? ` (node ${e.node})` : '',
      ` · reported by ${e.source}`)));
    if (!v.events.length) events.replaceChildren(el('li', {}, 'no events yet'));

    renderSources(v);
    if (!document.body.dataset.ready) performance.mark('hactl-cluster');
    document.body.dataset.ready = '1';
  }

  function renderSources(v) {
    const sel = $('source');
    const opts = [];
    for (const n of v.nodes) if (n.monitored) opts.push(['node:' + n.name, 'node ' + n.name]);
    for (const d of v.devices) opts.push(['device:' + d.name + ':' + d.polled_by, `device ${d.name} (polled by ${d.polled_by})`]);
    const key = opts.map((o) => o[0]).join('\n');
    if (sel.dataset.key !== key) {
      sel.dataset.key = key;
      sel.replaceChildren(...opts.map(([value, label]) => el('option', { value }, label)));
      if (opts.some((o) => o[0] === source)) sel.value = source;
    }
    if (!source && opts.length) {
      source = opts[0][0];
      sel.value = source;
      showCharts();
    }
  }

  async function refresh() {
    try {
      view = await getJSON('/api/cluster');
      render(view);
    } catch (e) {
      $('updated').textContent = 'cannot reach hactl dashboard: ' + e.message;
    }
    setTimeout(refresh, ((view && view.refresh_s) || 5) * 1000);
  }

  // Graphs.

  function seriesList(node) {
    if (!seriesOf.has(node)) {
      const p = getJSON(`/api/node/${encodeURIComponent(node)}/series`).then((b) => b.series);
      p.catch(() => seriesOf.delete(node));
      seriesOf.set(node, p);
    }
    return seriesOf.get(node);
  }

  function sourceFilter(src) {
    const [kind, name, via] = src.split(':');
    if (kind === 'device') {
      return { node: via, keep: (s) => s.startsWith('hactl_snmp_') && s.includes(`device=${JSON.stringify(name)}`) };
    }
    return { node: name, keep: (s) => !s.startsWith('hactl_snmp_') };
  }

  async function showCharts() {
    for (const c of charts.values()) if (c.plot) c.plot.destroy();
    charts.clear();
    if (observer) observer.disconnect();
    const box = $('charts');
    box.replaceChildren();
    if (!source) return;
    const { node, keep } = sourceFilter(source);
    const note = $('graphs-note');
    note.textContent = 'loading the series list…';
    let list;
    try {
      list = (await seriesList(node)).filter(keep);
    } catch (e) {
      note.textContent = `${node}: ${e.message}`;
      return;
    }
    const f = $('filter').value.trim().toLowerCase();
    if (f) list = list.filter((s) => s.toLowerCase().includes(f));
    note.textContent = `${list.length} series, average (solid) and maximum (dashed) per ${span}`;
    observer = new IntersectionObserver((entries) => {
      for (const en of entries) if (en.isIntersecting) load(en.target.dataset.series);
    }, { rootMargin: '200px' });
    for (const s of list) {
      const div = el('div', { class: 'chart', 'data-series': s }, el('h3', {}, s), el('p', { class: 'note' }, 'scroll here to load'));
      box.append(div);
      charts.set(s, { box: div, plot: null, loadedAt: 0, span: '' , node });
      observer.observe(div);
    }
  }

  async function load(series) {
    const c = charts.get(series);
    if (!c || (c.span === span && Date.now() - c.loadedAt < CHART_REFRESH_MS)) return;
    c.loadedAt = Date.now();
    c.span = span;
    const want = span;
    let h;
    try {
      h = await getJSON(`/api/node/${encodeURIComponent(c.node)}/history?series=${encodeURIComponent(series)}&span=${want}`);
    } catch (e) {
      c.box.lastChild.textContent = e.message;
      return;
    }
    if (charts.get(series) !== c || want !== span) return;
    const data = [h.t, h.avg, h.max];
    if (c.plot) {
      c.plot.setData(data);
      return;
    }
    c.box.lastChild.remove();
    c.plot = new uPlot({
      width: Math.max(c.box.clientWidth - 12, 200),
      height: 160,
      scales: { x: { time: true } },
      series: [
        {},
        { label: 'average', stroke: '#1f5fa8', width: 1.5, spanGaps: false },
        { label: 'maximum', stroke: '#b3261e', width: 1, dash: [5, 4], spanGaps: false },
      ],
      axes: [{}, { size: 60 }],
    }, data, c.box);
    if (!performance.getEntriesByName('hactl-graph').length) performance.mark('hactl-graph');
  }

  function refreshVisibleCharts() {
    for (const [s, c] of charts) {
      if (!c.plot) continue;
      const r = c.box.getBoundingClientRect();
      if (r.bottom > 0 && r.top < window.innerHeight) load(s);
    }
  }

  function resizeCharts() {
    for (const c of charts.values()) {
      if (c.plot) c.plot.setSize({ width: Math.max(c.box.clientWidth - 12, 200), height: 160 });
    }
  }

  function start() {
    $('source').addEventListener('change', (e) => { source = e.target.value; showCharts(); });
    $('filter').addEventListener('change', showCharts);
    for (const b of $('spans').querySelectorAll('button')) {
      b.addEventListener('click', () => {
        span = b.dataset.span;
        for (const o of $('spans').querySelectorAll('button')) o.setAttribute('aria-pressed', String(o === b));
        for (const c of charts.values()) c.loadedAt = 0;
        showCharts();
      });
    }
    let t = null;
    window.addEventListener('resize', () => { clearTimeout(t); t = setTimeout(resizeCharts, 150); });
    setInterval(refreshVisibleCharts, CHART_REFRESH_MS);
    refresh();
  }

  start();
})();
