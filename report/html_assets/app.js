/* heapline HTML report — the viewer.
 *
 * Reads the JSON blob in #heapline-data (written by report/html.c; its shape
 * is in docs/html-report.md) and draws, for the chosen process: the summary,
 * memory over time (SVG), the flame graph (absolutely placed divs), the top
 * sites and the line tables.  No network, no libraries.
 *
 * `page.html#selftest&total=N&frame=NAME&search=TEXT...` runs a self-check
 * after drawing and writes its verdict as JSON into <pre id="selftest-result">
 * (tests/html/test_html.py reads it with chromium --dump-dom).
 */
(function () {
  'use strict';

  const DATA = JSON.parse(document.getElementById('heapline-data').textContent);
  const PROCS = DATA.processes || [];
  const $ = (id) => document.getElementById(id);
  const METRICS = [
    { key: 'bytes_allocated', label: 'bytes allocated', bytes: true },
    { key: 'allocations', label: 'allocations', bytes: false },
    { key: 'peak_bytes', label: 'live at the peak', bytes: true },
    { key: 'leaked_bytes', label: 'leaked', bytes: true },
  ];
  const FRAME_ROOT = -1, FRAME_OTHER = -2, FRAME_NONE = -3;
  const ROW_H = 18;

  const state = {
    proc: 0,
    metric: 0,
    zoom: 0,          // flame graph node id at the top of the zoom
    search: '',
    moment: null,     // selected moment index
    sortKey: 'bytes_allocated',
    sortDesc: true,
  };
  const cache = [];   // per process: the flame tree, built once

  /* ---- formatting ------------------------------------------------------- */

  const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

  function fmtBytes(b) {
    const neg = b < 0;
    let v = Math.abs(b), u = 0;
    while (v >= 1024 && u < UNITS.length - 1) {
      v /= 1024;
      u++;
    }
    const s = u === 0 ? String(v) : v.toFixed(u === 1 ? 1 : 3);
    return (neg ? '-' : '') + s + ' ' + UNITS[u];
  }

  /* memory_profiler's column: always MiB, three decimals. */
  function fmtMiB(b) {
    return (b / 1048576).toFixed(3) + ' MiB';
  }

  function fmtInt(n) {
    return Number(n).toLocaleString('en-US');
  }

  function fmtValue(v, m) {
    return METRICS[m].bytes ? fmtBytes(v) : fmtInt(v);
  }

  function fmtMs(ms) {
    return (ms / 1000).toFixed(3) + ' s';
  }

  function pct(x, total) {
    if (!total) return '0%';
    const p = (100 * x) / total;
    return (p >= 10 || p === 0 ? p.toFixed(1) : p.toPrecision(2)) + '%';
  }

  function esc(s) {
    return String(s == null ? '' : s).replace(/[&<>"']/g, (c) => ({
      '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
    })[c]);
  }

  function basename(p) {
    if (!p) return '??';
    const i = p.lastIndexOf('/');
    return i < 0 ? p : p.slice(i + 1);
  }

  /* "function file:line" as the text report prints a frame. */
  function frameText(f) {
    const fn = f.function || null, file = f.file ? basename(f.file) : null;
    if (fn && file) return fn + ' ' + file + (f.line ? ':' + f.line : '');
    if (file) return '?? ' + file + (f.line ? ':' + f.line : '');
    if (fn) return fn + ' (' + basename(f.module) + ')';
    return basename(f.module) + '+0x' + Number(f.offset || 0).toString(16);
  }

  function el(tag, attrs, html) {
    const e = document.createElement(tag);
    if (attrs) for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (html != null) e.innerHTML = html;
    return e;
  }

  /* ---- tooltip ---------------------------------------------------------- */

  const tip = $('tooltip');

  function showTip(ev, html) {
    tip.innerHTML = html;
    tip.hidden = false;
    const pad = 14, w = tip.offsetWidth, h = tip.offsetHeight;
    let x = ev.clientX + pad, y = ev.clientY + pad;
    if (x + w > window.innerWidth - 4) x = ev.clientX - w - pad;
    if (y + h > window.innerHeight - 4) y = ev.clientY - h - pad;
    tip.style.left = Math.max(4, x) + 'px';
    tip.style.top = Math.max(4, y) + 'px';
  }

  function hideTip() {
    tip.hidden = true;
  }

  /* ---- summary ---------------------------------------------------------- */

  function renderSummary(p) {
    const s = p.summary;
    const cards = [
      ['Bytes allocated', fmtBytes(s.bytes_allocated)],
      ['Allocations', fmtInt(s.allocations)],
      ['Frees', fmtInt(s.frees)],
      ['Peak heap', fmtBytes(s.peak_bytes) + ' <small>at ' + fmtMs(s.peak_time_ms) + '</small>'],
      ['Leaked', fmtBytes(s.leaked_bytes) + ' <small>in ' + fmtInt(s.leaked_blocks) +
        (s.leaked_blocks === 1 ? ' block' : ' blocks') + '</small>'],
      ['Peak RSS', s.peak_rss_bytes ? fmtBytes(s.peak_rss_bytes) : '—'],
      ['Duration', fmtMs(s.duration_ms)],
      ['Process', s.pid + ' <small>(parent ' + s.ppid + ')</small>'],
      ['Ended by', s.end || 'no END record (killed?)'],
    ];
    let html = cards.map(([k, v]) =>
      '<div class="card"><div class="k">' + k + '</div><div class="v">' + v + '</div></div>').join('');
    html += '<div class="card wide"><div class="k">Command</div><div class="v small">' +
      esc(s.command) + '</div></div>';
    if (s.lost_events)
      html += '<div class="card warn"><div class="k">Lost events</div><div class="v">' +
        fmtInt(s.lost_events) + '</div></div>';
    if (s.truncated_bytes)
      html += '<div class="card warn"><div class="k">Truncated</div><div class="v">' +
        fmtBytes(s.truncated_bytes) + ' lost</div></div>';
    $('summary').innerHTML = html;
    $('title').textContent = basename((s.command || '').split(' ')[0]) + ' — pid ' + s.pid;
    document.title = 'heapline: ' + $('title').textContent;
  }

  /* ---- memory over time ------------------------------------------------- */

  function niceStep(raw) {
    const mag = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const n of [1, 2, 2.5, 5, 10])
      if (n * mag >= raw) return n * mag;
    return 10 * mag;
  }

  /* The chart's numbers, in slots (the aggregator's timeline). */
  function chartData(p) {
    const t = p.memory_over_time;
    const live = t.samples.map((s) => s.live_bytes);
    const rss = t.samples.map((s) => s.rss_bytes);
    return { t, live, rss, slot: t.slot_ms, n: live.length };
  }

  function renderChart(p) {
    const box = $('chart');
    const d = chartData(p);
    const W = Math.max(480, box.clientWidth || 900), H = 260;
    const L = 78, R = 18, T = 22, B = 30;
    const w = W - L - R, h = H - T - B;
    const span = d.n * d.slot;
    let ymax = 1;
    for (let i = 0; i < d.n; i++) {
      ymax = Math.max(ymax, d.live[i], d.rss[i] || 0);
    }
    // y axis in a power-of-1024 unit with round steps
    let u = 0;
    while (ymax / Math.pow(1024, u + 1) >= 1 && u < 4) u++;
    const unit = Math.pow(1024, u);
    const ystep = niceStep(ymax / unit / 4) * unit;
    const ytop = Math.ceil((ymax * 1.08) / ystep) * ystep;
    const X = (ms) => L + (w * ms) / span;
    const Y = (b) => T + h - (h * b) / ytop;
    d.X = X;
    d.W = W;
    d.L = L;
    d.w = w;
    d.span = span;

    let svg = '<svg xmlns="http://www.w3.org/2000/svg" width="' + W + '" height="' + H +
      '" viewBox="0 0 ' + W + ' ' + H + '" id="chart-svg">';
    for (let y = 0; y <= ytop + 1e-9; y += ystep) {
      svg += '<line class="grid" x1="' + L + '" x2="' + (L + w) + '" y1="' + Y(y) + '" y2="' + Y(y) + '"/>';
      const lab = (y / unit).toFixed(ystep / unit < 1 ? 1 : 0) + ' ' + UNITS[u];
      svg += '<text class="label" x="' + (L - 6) + '" y="' + (Y(y) + 4) + '" text-anchor="end">' + lab + '</text>';
    }
    const xstep = niceStep(span / 8);
    for (let x = 0; x <= span + 1e-9; x += xstep) {
      svg += '<line class="axis" x1="' + X(x) + '" x2="' + X(x) + '" y1="' + (T + h) + '" y2="' + (T + h + 4) + '"/>';
      const dec = xstep >= 1000 ? 0 : xstep >= 100 ? 1 : xstep >= 10 ? 2 : 3;
      svg += '<text class="label" x="' + X(x) + '" y="' + (T + h + 17) + '" text-anchor="middle">' +
        (x / 1000).toFixed(dec) + ' s</text>';
    }
    svg += '<line class="axis" x1="' + L + '" x2="' + (L + w) + '" y1="' + (T + h) + '" y2="' + (T + h) + '"/>';
    svg += '<line class="axis" x1="' + L + '" x2="' + L + '" y1="' + T + '" y2="' + (T + h) + '"/>';

    // the selected moment, under the curves
    svg += '<rect class="selected" id="moment-band" x="0" y="' + T + '" width="0" height="' + h + '" visibility="hidden"/>';

    // live heap: a step per slot (the most live in it)
    let path = 'M' + X(0) + ',' + Y(0);
    for (let i = 0; i < d.n; i++) {
      const y = Y(d.live[i]).toFixed(1);
      path += 'L' + X(i * d.slot).toFixed(1) + ',' + y + 'L' + X((i + 1) * d.slot).toFixed(1) + ',' + y;
    }
    path += 'L' + X(span) + ',' + Y(0) + 'Z';
    svg += '<path class="live" id="chart-live" data-points="' + d.n + '" d="' + path + '"/>';

    // resident set, where sampled
    let rpath = '', pen = false;
    for (let i = 0; i < d.n; i++) {
      if (d.rss[i] == null) {
        pen = false;
        continue;
      }
      const y = Y(d.rss[i]).toFixed(1);
      rpath += (pen ? 'L' : 'M') + X(i * d.slot).toFixed(1) + ',' + y + 'L' + X((i + 1) * d.slot).toFixed(1) + ',' + y;
      pen = true;
    }
    if (rpath) svg += '<path class="rss" id="chart-rss" d="' + rpath + '"/>';

    // the peak
    const pk = d.t.peak_bytes, pslot = Math.min(d.n - 1, Math.floor(d.t.peak_time_ms / d.slot));
    const px = X((pslot + 0.5) * d.slot), py = Y(pk);
    const plabel = 'peak ' + fmtBytes(pk) + ' at ' + fmtMs(d.t.peak_time_ms);
    const right = px > L + w * 0.6;
    svg += '<circle class="peak" id="chart-peak" data-bytes="' + pk + '" cx="' + px + '" cy="' + py + '" r="5"/>';
    svg += '<text class="peak-label" id="chart-peak-label" x="' + (px + (right ? -9 : 9)) + '" y="' +
      Math.max(T + 10, py - 6) + '" text-anchor="' + (right ? 'end' : 'start') + '">' + esc(plabel) + '</text>';
    svg += '<line class="cursor" id="chart-cursor" x1="0" x2="0" y1="' + T + '" y2="' + (T + h) + '" visibility="hidden"/>';
    svg += '<rect id="chart-hit" x="' + L + '" y="' + T + '" width="' + w + '" height="' + h + '" fill="transparent"/>';
    svg += '</svg>';
    svg += '<div class="legend"><i style="background:var(--live)"></i>live heap' +
      (rpath ? '<i style="background:var(--rss)"></i>resident set (RSS)' : '') +
      '<i style="background:var(--accent);height:8px;width:8px;border-radius:4px"></i>peak</div>';
    box.innerHTML = svg;

    const hit = $('chart-hit'), cursor = $('chart-cursor');
    const slotAt = (ev) => {
      const r = $('chart-svg').getBoundingClientRect();
      const x = ((ev.clientX - r.left) * W) / r.width;
      return Math.max(0, Math.min(d.n - 1, Math.floor(((x - L) / w) * d.n)));
    };
    hit.addEventListener('mousemove', (ev) => {
      const i = slotAt(ev);
      const x = X((i + 0.5) * d.slot);
      cursor.setAttribute('x1', x);
      cursor.setAttribute('x2', x);
      cursor.setAttribute('visibility', 'visible');
      showTip(ev, '<b>' + fmtMs(i * d.slot) + ' – ' + fmtMs((i + 1) * d.slot) + '</b><br>' +
        'live heap (most): ' + fmtBytes(d.live[i]) + '<br>' +
        'resident set: ' + (d.rss[i] == null ? '—' : fmtBytes(d.rss[i])) +
        '<br><span class="mono">click: what was live then</span>');
    });
    hit.addEventListener('mouseleave', () => {
      cursor.setAttribute('visibility', 'hidden');
      hideTip();
    });
    hit.addEventListener('click', (ev) => selectMoment(p, Math.floor(slotAt(ev) / p.moments.slots_per_moment)));
    cache[state.proc].chart = d;
  }

  /* ---- what was live at a moment ---------------------------------------- */

  function momentOfPeak(p) {
    const t = p.memory_over_time;
    const slot = Math.min(t.samples.length - 1, Math.floor(t.peak_time_ms / t.slot_ms));
    return Math.min(p.moments.moments.length - 1, Math.floor(slot / p.moments.slots_per_moment));
  }

  function selectMoment(p, mi) {
    state.moment = mi;
    const M = p.moments, m = M.moments[mi];
    const d = cache[state.proc].chart;
    const k = M.slots_per_moment, slot = d.slot;
    const first = m.first_slot, last = Math.min(d.n, first + k);
    const band = $('moment-band');
    if (band) {
      band.setAttribute('x', d.X(first * slot));
      band.setAttribute('width', Math.max(2, d.X(last * slot) - d.X(first * slot)));
      band.setAttribute('visibility', 'visible');
    }
    const t0 = first * slot, t1 = last * slot;
    const when = m.at_max ? 'where this interval peaked' : 'as it began (its most live heap)';
    let html = '<h3 id="moment-title" data-live="' + m.live_bytes + '" data-moment="' + mi + '">Live heap ' +
      fmtMs(t0) + ' – ' + fmtMs(t1) + ', ' + when + ': ' + fmtBytes(m.live_bytes) + '</h3>';
    if (!m.top.length) {
      html += '<p class="hint">Nothing was live.</p>';
    } else {
      html += '<div class="scroll"><table class="grid"><tr><th>Live</th><th>%</th><th>Blocks</th>' +
        '<th class="left" title="the first frame of the program\'s own code">Site</th></tr>';
      for (const [si, bytes, blocks] of m.top) {
        const s = M.sites[si];
        const f = { function: s[0], file: s[1], line: s[2], module: s[3] };
        const w = m.live_bytes ? Math.max(1, Math.round((60 * bytes) / m.live_bytes)) : 0;
        html += '<tr><td>' + fmtBytes(bytes) + '</td><td><span class="bar" style="width:' + w + 'px"></span>' +
          pct(bytes, m.live_bytes) + '</td><td>' + fmtInt(blocks) + '</td><td class="site" title="' +
          esc(s[1] || s[3] || '') + '">' + esc(s[0] || s[1] || s[3] ? frameText(f) : '[unknown stack]') + '</td></tr>';
      }
      if (m.other_bytes || m.other_blocks)
        html += '<tr><td>' + fmtBytes(m.other_bytes) + '</td><td>' + pct(m.other_bytes, m.live_bytes) +
          '</td><td>' + fmtInt(m.other_blocks) + '</td><td class="site callers">every other site</td></tr>';
      html += '</table></div>';
    }
    $('moment').innerHTML = html;
  }

  /* ---- flame graph ------------------------------------------------------ */

  function buildTree(p) {
    const F = p.flame, raw = F.nodes, frames = F.frames;
    const nodes = [];
    for (let i = 0, id = 0; i < raw.length; i += 6, id++) {
      const fr = raw[i + 1];
      const n = {
        id, parent: raw[i], frame: fr, v: [raw[i + 2], raw[i + 3], raw[i + 4], raw[i + 5]],
        children: [], depth: 0, own: false, synthetic: fr < 0,
      };
      if (fr === FRAME_ROOT) {
        n.name = 'all';
        n.file = null;
      } else if (fr === FRAME_OTHER) {
        n.name = 'other (below ' + F.prune_per_mille / 10 + '% each)';
      } else if (fr === FRAME_NONE) {
        n.name = '[no stack]';
      } else {
        const f = frames[fr];
        n.name = f[0] || (f[1] ? '?? ' + basename(f[1]) : '[' + basename(f[2]) + ']');
        n.file = f[1];
        n.module = f[2];
        n.own = f[3];
      }
      if (n.parent >= 0) {
        nodes[n.parent].children.push(n);
        n.depth = nodes[n.parent].depth + 1;
      }
      nodes.push(n);
    }
    return nodes;
  }

  function hueOf(s) {
    let h = 0;
    for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) >>> 0;
    return h;
  }

  function colorOf(n) {
    if (n.synthetic) return '#d4d7dd';
    const h = hueOf(n.name);
    if (n.own) return 'hsl(' + (8 + (h % 40)) + ',' + (75 + (h >> 8) % 20) + '%,' + (58 + (h >> 16) % 14) + '%)';
    return 'hsl(' + (195 + (h % 30)) + ',' + (35 + (h >> 8) % 20) + '%,' + (70 + (h >> 16) % 12) + '%)';
  }

  function searchMatcher(text) {
    if (!text) return null;
    const m = /^\/(.*)\/([a-z]*)$/.exec(text);
    if (m) {
      try {
        const re = new RegExp(m[1], m[2]);
        return (n) => re.test(n.name) || (!!n.file && re.test(n.file));
      } catch (e) { /* not a regex after all: a plain search */ }
    }
    const low = text.toLowerCase();
    return (n) => n.name.toLowerCase().includes(low) || (!!n.file && n.file.toLowerCase().includes(low));
  }

  /* Matched total under the zoom: matches below another match count once. */
  function searchTotal(root, match, m) {
    let total = 0, count = 0;
    const walk = (n) => {
      if (match(n)) {
        total += n.v[m];
        count++;
        return;
      }
      for (const c of n.children) walk(c);
    };
    walk(root);
    return { total, count };
  }

  function renderFlame() {
    const p = PROCS[state.proc], nodes = cache[state.proc].nodes, m = state.metric;
    const box = $('flame');
    const W = Math.max(400, box.clientWidth || 1000);
    const zoom = nodes[state.zoom] || nodes[0];
    const total = zoom.v[m];
    const match = searchMatcher(state.search);
    const frag = document.createDocumentFragment();
    let maxDepth = zoom.depth, drawn = 0, hidden = 0;

    const place = (n, x, width, cls) => {
      const d = document.createElement('div');
      d.className = 'fr' + (cls ? ' ' + cls : '') + (n.own || n.synthetic ? '' : ' lib') +
        (n.synthetic ? ' synthetic' : '') + (match && match(n) ? ' match' : '');
      d.style.left = x.toFixed(1) + 'px';
      d.style.top = (n.depth * ROW_H) + 'px';
      d.style.width = Math.max(1, width - 1).toFixed(1) + 'px';
      d.style.background = colorOf(n);
      d.dataset.id = n.id;
      d.dataset.v = n.v[m];
      if (width > 28) d.textContent = n.name;
      frag.appendChild(d);
      drawn++;
      if (n.depth > maxDepth) maxDepth = n.depth;
    };

    // the zoom's callers, full width
    for (let a = nodes[zoom.parent]; a; a = nodes[a.parent]) place(a, 0, W, 'ancestor');
    const draw = (n, x, width) => {
      place(n, x, width, n === zoom ? 'zoom' : '');
      const kids = n.children.filter((c) => c.v[m] > 0).sort((a, b) => b.v[m] - a.v[m]);
      let cx = x;
      for (const c of kids) {
        const cw = total ? (width * c.v[m]) / n.v[m] : 0;
        if (cw >= 0.6) draw(c, cx, cw);
        else hidden++;
        cx += cw;
      }
    };
    if (total > 0) draw(zoom, 0, W);
    box.innerHTML = '';
    box.style.height = ((maxDepth + 1) * ROW_H + 2) + 'px';
    box.appendChild(frag);
    box.dataset.zoom = zoom.id;
    box.dataset.total = total;
    box.dataset.drawn = drawn;

    let status;
    if (!total) {
      status = 'Nothing to show: no ' + METRICS[m].label + (state.zoom ? ' under ' + esc(zoom.name) : '') + '.';
    } else if (match) {
      const r = searchTotal(zoom, match, m);
      box.dataset.matched = r.total;
      status = 'matched <b id="match-total" data-v="' + r.total + '">' + fmtValue(r.total, m) + '</b> (' +
        pct(r.total, total) + ' of ' + fmtValue(total, m) + ') in ' + r.count + ' frame' + (r.count === 1 ? '' : 's');
    } else {
      status = (state.zoom ? esc(zoom.name) + ': ' : 'total: ') + fmtValue(total, m) +
        (state.zoom ? ' (' + pct(total, nodes[0].v[m]) + ' of all)' : '');
    }
    if (hidden) status += ' · ' + hidden + ' frames too narrow to draw';
    if (!match) delete box.dataset.matched;
    $('flame-status').innerHTML = status;
  }

  function flameTip(ev) {
    const t = ev.target.closest('.fr');
    if (!t) return hideTip();
    const nodes = cache[state.proc].nodes, n = nodes[+t.dataset.id], m = state.metric;
    const zoom = nodes[state.zoom] || nodes[0];
    let html = '<b>' + esc(n.name) + '</b>';
    if (n.file) html += '<br><span class="mono">' + esc(n.file) + '</span>';
    else if (n.module) html += '<br><span class="mono">' + esc(n.module) + '</span>';
    html += '<br>' + fmtValue(n.v[m], m) + ' ' + METRICS[m].label + ' · ' + pct(n.v[m], nodes[0].v[m]) + ' of all';
    if (state.zoom) html += ' · ' + pct(n.v[m], zoom.v[m]) + ' of zoom';
    html += '<br><span class="mono">' + METRICS.map((x, i) => x.label + ' ' + fmtValue(n.v[i], i)).join(' · ') + '</span>';
    showTip(ev, html);
  }

  function zoomTo(id) {
    state.zoom = id;
    renderFlame();
  }

  function initFlameControls() {
    const box = $('flame');
    box.addEventListener('click', (ev) => {
      const t = ev.target.closest('.fr');
      if (!t) return;
      const nodes = cache[state.proc].nodes, id = +t.dataset.id;
      // clicking the zoomed frame again goes up one level
      zoomTo(id === state.zoom && id !== 0 ? nodes[id].parent : id);
    });
    box.addEventListener('mousemove', flameTip);
    box.addEventListener('mouseleave', hideTip);
    $('reset-zoom').addEventListener('click', () => zoomTo(0));
    $('search').addEventListener('input', (ev) => {
      state.search = ev.target.value.trim();
      renderFlame();
    });
    $('metric').innerHTML = METRICS.map((x, i) =>
      '<label><input type="radio" name="metric" value="' + i + '"' + (i === state.metric ? ' checked' : '') +
      '> ' + x.label + '</label>').join('');
    $('metric').addEventListener('change', (ev) => setMetric(+ev.target.value));
  }

  function setMetric(m) {
    state.metric = m;
    for (const r of document.querySelectorAll('#metric input')) r.checked = +r.value === m;
    renderFlame();
  }

  /* ---- top sites -------------------------------------------------------- */

  const SITE_COLS = [
    ['bytes_allocated', 'Allocated', fmtBytes],
    ['allocations', 'Calls', fmtInt],
    ['temporary', 'Temporary', fmtInt],
    ['peak_bytes', 'At peak', fmtBytes],
    ['leaked_bytes', 'Leaked', fmtBytes],
    ['leaked_blocks', 'Leaked blocks', fmtInt],
  ];

  function renderSites(p) {
    const sites = p.sites.slice();
    const key = state.sortKey, sgn = state.sortDesc ? -1 : 1;
    sites.sort((a, b) => sgn * ((a[key] || 0) - (b[key] || 0)) || (b.bytes_allocated - a.bytes_allocated));
    const total = p.summary.bytes_allocated;
    let html = '<thead><tr><th>#</th>';
    for (const [k, label] of SITE_COLS)
      html += '<th class="sortable' + (k === key ? ' sorted' : '') + '" data-key="' + k + '">' + label +
        (k === key ? (state.sortDesc ? ' ▾' : ' ▴') : '') + '</th>';
    html += '<th class="left">Site</th></tr></thead><tbody>';
    sites.slice(0, 100).forEach((s, i) => {
      const w = total ? Math.max(1, Math.round((50 * s.bytes_allocated) / total)) : 0;
      html += '<tr><td>' + (i + 1) + '</td>';
      for (const [k, , f] of SITE_COLS) {
        const bar = k === 'bytes_allocated' ? '<span class="bar" style="width:' + w + 'px"></span>' : '';
        html += '<td>' + bar + (s[k] == null ? '—' : f(s[k])) + '</td>';
      }
      const fr = s.frames || [];
      html += '<td class="site">' + (fr.length ? esc(frameText(fr[0])) : '[no stack]') +
        fr.slice(1).map((f) => '<br><span class="callers">from ' + esc(frameText(f)) + '</span>').join('') + '</td></tr>';
    });
    if (!sites.length) html += '<tr><td colspan="8" class="left">No allocations.</td></tr>';
    html += '</tbody>';
    $('sites').innerHTML = html;
  }

  function initSites() {
    $('sites').addEventListener('click', (ev) => {
      const th = ev.target.closest('th.sortable');
      if (!th) return;
      if (state.sortKey === th.dataset.key) state.sortDesc = !state.sortDesc;
      else {
        state.sortKey = th.dataset.key;
        state.sortDesc = true;
      }
      renderSites(PROCS[state.proc]);
    });
  }

  /* ---- line tables ------------------------------------------------------ */

  function renderLines(p) {
    const tables = p.line_tables || [];
    if (!tables.length) {
      $('lines').innerHTML = '<p class="hint">No function of the program\'s own code allocated ' +
        '(or none has debug information).</p>';
      return;
    }
    let html = '';
    for (const t of tables) {
      const withPeak = t.lines.some((l) => l.peak_bytes != null);
      let maxInc = 1;
      for (const l of t.lines) maxInc = Math.max(maxInc, Math.abs(l.increment_bytes));
      html += '<div class="linetable"><h3>' + esc(t.function) + ' <span>' + esc(t.source || t.file || '??') +
        ' · ' + fmtBytes(t.bytes_allocated) + ' allocated</span></h3><div class="scroll"><table class="grid">' +
        '<tr><th>Line #</th><th>Mem usage</th><th>Increment</th><th>Occurrences</th><th>Leaked</th>' +
        (withPeak ? '<th>At peak</th>' : '') + '<th class="left">Line Contents</th></tr>';
      for (const l of t.lines) {
        const any = l.occurrences > 0;
        const heat = any ? Math.abs(l.increment_bytes) / maxInc : 0;
        const bg = heat > 0 ? ' style="background:rgba(232,119,46,' + (0.06 + 0.3 * heat).toFixed(3) + ')"' : '';
        const cls = l.increment_bytes < 0 ? 'neg' : l.increment_bytes > 0 ? 'pos' : '';
        html += '<tr' + (any ? ' class="hot"' : '') + bg + '><td>' + l.line + '</td>' +
          '<td>' + (any ? fmtMiB(l.mem_usage_bytes) : '') + '</td>' +
          '<td class="' + cls + '">' + (any ? fmtMiB(l.increment_bytes) : '') + '</td>' +
          '<td>' + (any ? fmtInt(l.occurrences) : '') + '</td>' +
          '<td>' + (any && l.leaked_bytes ? fmtMiB(l.leaked_bytes) : '') + '</td>' +
          (withPeak ? '<td>' + (any && l.peak_bytes ? fmtMiB(l.peak_bytes) : '') + '</td>' : '') +
          '<td class="src">' + (l.text == null ? '<span class="callers">(source not found)</span>' : esc(l.text)) + '</td></tr>';
      }
      html += '</table></div></div>';
    }
    $('lines').innerHTML = html;
  }

  /* ---- processes -------------------------------------------------------- */

  function showProcess(i) {
    state.proc = i;
    state.zoom = 0;
    const p = PROCS[i];
    if (!cache[i]) cache[i] = { nodes: buildTree(p) };
    $('process').value = String(i);
    renderSummary(p);
    renderChart(p);
    selectMoment(p, momentOfPeak(p));
    renderFlame();
    renderSites(p);
    renderLines(p);
  }

  function initProcesses() {
    const sel = $('process');
    sel.innerHTML = PROCS.map((p, i) => '<option value="' + i + '">pid ' + p.summary.pid + ': ' +
      esc((p.summary.command || '').slice(0, 80)) + ' — peak ' + fmtBytes(p.summary.peak_bytes) + '</option>').join('');
    $('process-label').hidden = PROCS.length < 2;
    sel.addEventListener('change', () => showProcess(+sel.value));
    $('footer').textContent = (DATA.generator || 'heapline') + ' · ' + PROCS.length + ' process' +
      (PROCS.length === 1 ? '' : 'es') + ' · flame graph nodes below ' +
      (PROCS[0] ? PROCS[0].flame.prune_per_mille / 10 : 0.1) + '% of every total merged into "other"';
  }

  /* ---- self-test -------------------------------------------------------- */

  function selftest(params) {
    const checks = [], out = { ok: true, checks, processes: [], errors: selfErrors };
    const check = (name, ok, got, want) => {
      checks.push({ name, ok: !!ok, got, want });
      if (!ok) out.ok = false;
    };
    const num = (k) => (params[k] == null ? null : Number(params[k]));
    check('processes', PROCS.length > 0 && (num('processes') == null || PROCS.length === num('processes')),
      PROCS.length, num('processes'));

    PROCS.forEach((p, pi) => {
      showProcess(pi);
      const s = p.summary, nodes = cache[pi].nodes, tag = 'p' + pi + ' ';
      const info = { pid: s.pid, bytes_allocated: s.bytes_allocated, peak_bytes: s.peak_bytes,
        leaked_bytes: s.leaked_bytes, flame_nodes: nodes.length };
      out.processes.push(info);
      if (pi === 0) {
        if (num('total') != null) check(tag + 'total from the test', s.bytes_allocated === num('total'), s.bytes_allocated, num('total'));
        if (num('peak') != null) check(tag + 'peak from the test', s.peak_bytes === num('peak'), s.peak_bytes, num('peak'));
        if (num('leaked') != null) check(tag + 'leaked from the test', s.leaked_bytes === num('leaked'), s.leaked_bytes, num('leaked'));
      }

      // the chart: every slot drawn, the peak where the data says
      const live = $('chart-live'), peak = $('chart-peak');
      const d = cache[pi].chart;
      const maxLive = Math.max(0, ...d.live);
      info.chart_points = live ? +live.dataset.points : 0;
      check(tag + 'chart drawn', live && +live.dataset.points === p.memory_over_time.samples.length &&
        live.getAttribute('d').length > 10, info.chart_points, p.memory_over_time.samples.length);
      check(tag + 'chart peak marker', peak && +peak.dataset.bytes === s.peak_bytes && maxLive === s.peak_bytes,
        peak ? +peak.dataset.bytes : null, s.peak_bytes);

      // every moment adds up, and equals the chart's most live heap over its slots
      const M = p.moments;
      let badMoments = 0;
      M.moments.forEach((m, mi) => {
        const sum = m.top.reduce((a, e) => a + e[1], 0) + m.other_bytes;
        let most = 0;
        for (let i = m.first_slot; i < Math.min(d.n, m.first_slot + M.slots_per_moment); i++) most = Math.max(most, d.live[i]);
        if (sum !== m.live_bytes || most !== m.live_bytes) badMoments++;
      });
      info.moments = M.moments.length;
      check(tag + 'moments add up to the chart', M.moments.length > 0 && badMoments === 0, badMoments, 0);
      // click on the chart at the peak: the moment shown holds the peak.  The
      // click goes to the middle of the peak's moment, not of its slot: a
      // long run has slots narrower than a pixel, and a click position is
      // whole pixels, so the slot's middle can fall in the next moment.
      const hit = $('chart-hit'), r = hit.getBoundingClientRect();
      const pslot = Math.min(d.n - 1, Math.floor(p.memory_over_time.peak_time_ms / d.slot));
      const pk = M.slots_per_moment, pfirst = Math.floor(pslot / pk) * pk;
      const pmid = (pfirst + Math.min(d.n, pfirst + pk)) / 2;
      const sr = $('chart-svg').getBoundingClientRect();
      const cx = sr.left + (d.X(pmid * d.slot) * sr.width) / d.W;
      $('moment').innerHTML = '';
      hit.dispatchEvent(new MouseEvent('click', { bubbles: true, clientX: cx, clientY: r.top + r.height / 2 }));
      const mt = $('moment-title');
      check(tag + 'chart click shows the peak moment', mt && +mt.dataset.live === s.peak_bytes,
        mt ? +mt.dataset.live : null, s.peak_bytes);

      // the flame graph's root under each metric equals the summary
      const want = [s.bytes_allocated, s.allocations, s.peak_bytes, s.leaked_bytes];
      const got = [];
      for (let m = 0; m < METRICS.length; m++) {
        setMetric(m);
        const root = document.querySelector('#flame .fr[data-id="0"]');
        got.push(root ? +root.dataset.v : want[m] === 0 ? 0 : null);
        check(tag + 'flame root, ' + METRICS[m].label, got[m] === want[m] && p.flame.totals[m] === want[m], got[m], want[m]);
      }
      setMetric(0);
      info.flame_drawn = +$('flame').dataset.drawn;
      check(tag + 'flame drawn', s.allocations ? info.flame_drawn > 1 : info.flame_drawn === 0,
        info.flame_drawn, s.allocations ? '> 1' : 0);

      // a click on a named frame zooms to it
      const name = params.frame;
      if (name && pi === (num('process') || 0)) {
        const boxes = [...document.querySelectorAll('#flame .fr')].filter((b) => nodes[+b.dataset.id].name === name);
        boxes.sort((a, b) => b.dataset.v - a.dataset.v);
        const b = boxes[0];
        check(tag + 'frame "' + name + '" drawn', !!b, boxes.length, '>= 1');
        if (b) {
          const id = +b.dataset.id, W = $('flame').clientWidth;
          b.dispatchEvent(new MouseEvent('click', { bubbles: true }));
          const z = document.querySelector('#flame .fr.zoom');
          const zw = z ? parseFloat(z.style.width) : 0;
          info.zoom = { frame: name, node: id, value: nodes[id].v[0], width: zw, container: W };
          check(tag + 'click zooms to "' + name + '"', state.zoom === id && +$('flame').dataset.zoom === id &&
            z && +z.dataset.id === id && Math.abs(zw - (W - 1)) <= 2 &&
            +$('flame').dataset.total === nodes[id].v[0], { zoom: state.zoom, width: zw }, { zoom: id, width: W - 1 });
        }
      }

      // a search highlights matches and totals them
      const term = params.search;
      if (term && pi === (num('process') || 0)) {
        const input = $('search');
        input.value = term;
        input.dispatchEvent(new Event('input', { bubbles: true }));
        const hl = document.querySelectorAll('#flame .fr.match').length;
        const mtot = $('match-total') ? +$('match-total').dataset.v : null;
        info.search = { term, matched_total: mtot, highlighted: hl, zoom: state.zoom };
        check(tag + 'search "' + term + '" highlights', hl > 0 && mtot > 0, hl, '> 0');
        if (num('searchtotal') != null)
          check(tag + 'search total', mtot === num('searchtotal'), mtot, num('searchtotal'));
        input.value = '';
        input.dispatchEvent(new Event('input', { bubbles: true }));
        check(tag + 'search cleared', document.querySelectorAll('#flame .fr.match').length === 0, 0, 0);
      }
      $('reset-zoom').click();
      check(tag + 'reset zoom', state.zoom === 0 && +$('flame').dataset.zoom === 0, state.zoom, 0);

      // tables
      check(tag + 'sites table', document.querySelectorAll('#sites tbody tr').length >= Math.min(1, p.sites.length),
        document.querySelectorAll('#sites tbody tr').length, p.sites.length);
      check(tag + 'line tables', document.querySelectorAll('#lines .linetable').length === (p.line_tables || []).length,
        document.querySelectorAll('#lines .linetable').length, (p.line_tables || []).length);
    });
    if (PROCS.length > 1) {
      const sel = $('process');
      sel.value = '1';
      sel.dispatchEvent(new Event('change'));
      check('process selector', state.proc === 1 && $('summary').textContent.includes(String(PROCS[1].summary.pid)),
        state.proc, 1);
    }
    showProcess(0);
    return out;
  }

  /* ---- start ------------------------------------------------------------ */

  const selfErrors = [];
  window.addEventListener('error', (ev) => selfErrors.push(String(ev.message)));

  function start() {
    if (!PROCS.length) {
      $('summary').textContent = 'This report holds no process.';
      return;
    }
    initProcesses();
    initFlameControls();
    initSites();
    showProcess(0);
    let resizeTimer = 0;
    window.addEventListener('resize', () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => {
        const p = PROCS[state.proc];
        renderChart(p);
        if (state.moment != null) selectMoment(p, state.moment);
        renderFlame();
      }, 100);
    });
  }

  const hash = location.hash.replace(/^#/, '');
  const parts = hash.split('&');
  let result = null;
  try {
    start();
    if (parts[0] === 'selftest') {
      const params = {};
      for (const kv of parts.slice(1)) {
        const i = kv.indexOf('=');
        if (i > 0) params[decodeURIComponent(kv.slice(0, i))] = decodeURIComponent(kv.slice(i + 1));
      }
      result = selftest(params);
    }
  } catch (e) {
    result = { ok: false, errors: selfErrors.concat([String(e && e.stack || e)]) };
  }
  if (result) {
    if (selfErrors.length) result.ok = false;
    $('selftest-result').textContent = JSON.stringify(result);
  }
})();
