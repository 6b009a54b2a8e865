/* The explorer's views, written for this project (no framework, no network): it reads the
 * JSON in #explorer-meta, has explorer_decode.js decode the data, and draws four views:
 * sentences, one neuron, neurons by label, and an ablation; and a fifth, one minimal pair's
 * activation patching, where the run patched pairs. ASCII only.
 * Arrays of activity are neuron-major: value of neuron j at token t is at j * nTokens + t. */
"use strict";
(function () {
  const scriptStart = performance.now();
  const meta = JSON.parse(document.getElementById("explorer-meta").textContent);
  const byId = (id) => document.getElementById(id);
  const nTokens = meta.n_tokens, nNeurons = meta.n_neurons, LABELS = meta.labels, nLabels = LABELS.length;
  const quant = meta.quant, outputWeights = meta.W, outputBias = meta.b;    // quant: the scales and levels of each quantity
  const PAGE_SIZE = 25, RANK_ROWS = 12;
  const NEGATIVE_RGB = [33, 102, 172], POSITIVE_RGB = [178, 24, 43];
  const data = {};                                // the decoded data (explorer_decode.js fills it)
  const state = { neuron: 0, colour: "h", contributionLabel: 0, page: 0, matches: [], ablation: null,
                  rankLabel: 0, ranking: meta.ranking, rankAll: false, token: -1,
                  pair: 0, pairSite: "h", pairAll: false, pairCell: null };
  const timings = (window.explorerTimings = { interactions: [], script_start_ms: scriptStart,
                                               meta_ms: performance.now() - scriptStart });
  const { decode, decodeRest, gateCode } = explorerDecoder(meta, data, timings);     // explorer_decode.js

  let restDecoded = null;                         // the promise of decodeRest
  function whenComplete(fn) { return data.complete ? fn() : restDecoded.then(fn); }

  // ------------------------------------------------------------ numbers

  function value(q, j, t, label) {
    const k = j * nTokens + t;
    if (q === "h") return data.h[k] * quant.h.scale[j];
    if (q === "c") return data.c[k] * quant.c.scale[j];
    if (q === "contribution") return outputWeights[label][j] * data.h[k] * quant.h.scale[j];
    return gateCode(q, j, t) / quant[q].levels;                           // i, f, o
  }

  function within(q, j, label) {
    if (q === "h" || q === "c") return quant[q].within[j];
    if (q === "contribution") return Math.abs(outputWeights[label][j]) * quant.h.within[j];
    return quant[q].within;
  }

  function range(q, j, label) {       // [low, middle, high] of the colour scale: the largest |value| on dev
    if (q === "h" || q === "c") { const m = 127 * quant[q].scale[j]; return [-m, 0, m]; }
    if (q === "contribution") { const m = Math.abs(outputWeights[label][j]) * 127 * quant.h.scale[j]; return [-m, 0, m]; }
    return [0, 0.5, 1];
  }

  function decimals(w) { return Math.min(6, Math.max(1, Math.ceil(-Math.log10(w || 1e-6)) + 1)); }
  function fmt(v, w) { return (v >= 0 ? "+" : "") + v.toFixed(decimals(w)); }
  function fmtScore(v) { return v === null || v === undefined ? "n/a" : (Math.abs(v) < 1e-3 && v !== 0 ? v.toExponential(2) : v.toFixed(4)); }
  function esc(s) { return String(s).replace(/[&<>"]/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[ch]); }
  function num(q, v, w) {
    return '<span class="num" data-q="' + q + '" data-value="' + v + '" data-within="' + w + '">' +
      fmt(v, w) + " &plusmn; " + w.toPrecision(2) + "</span>";
  }

  function colour(v, scale) {
    const [lo, mid, hi] = scale;
    let u = v >= mid ? (hi > mid ? (v - mid) / (hi - mid) : 0) : (mid > lo ? (v - mid) / (mid - lo) : 0);
    u = Math.max(-1, Math.min(1, u));
    const base = u >= 0 ? POSITIVE_RGB : NEGATIVE_RGB, a = Math.abs(u);
    const rgb = base.map((x) => Math.round(255 + (x - 255) * a));
    return ["rgb(" + rgb.join(",") + ")", a > 0.55];
  }

  function neuronName(j) {
    const d = meta.directions;
    if (!d.bidirectional) return "neuron " + j;
    return j < d.hidden ? "neuron " + j + " (forward)" : "neuron " + j + " (backward, " + (j - d.hidden) + " of its direction)";
  }

  function shortName(j) {
    const d = meta.directions;
    return d.bidirectional ? j + (j < d.hidden ? " fwd" : " bwd") : String(j);
  }

  function topLabel(j) {        // the label neuron j pushes most, by Xin sensitivity
    let best = -1;
    for (let i = 0; i < nLabels; i++) {
      const s = meta.measures.xin[i][j];
      if (s !== null && (best < 0 || s > meta.measures.xin[best][j])) best = i;
    }
    return best;
  }

  function logits(t) {          // from the decoded h: z_i = sum_j W[i, j] h_j + b_i
    const z = outputBias.slice();
    for (let j = 0; j < nNeurons; j++) { const hj = value("h", j, t); for (let i = 0; i < nLabels; i++) z[i] += outputWeights[i][j] * hj; }
    return z;
  }

  // ------------------------------------------------------------ sentences

  function computeMatches() {
    const errorsOnly = byId("filter-errors").checked, label = byId("filter-label").value;
    const word = byId("filter-word").value.trim().toLowerCase();
    const changed = byId("filter-ablated").checked && state.ablation ? state.ablation.changed : null;
    const li = label === "" ? -1 : Number(label);
    if (word && !data.lowerWords) data.lowerWords = data.words.map((w) => w.toLowerCase());
    state.matches = [];
    for (let s = 0; s < data.lengths.length; s++) {
      const a = data.starts[s], b = a + data.lengths[s];
      let error = !errorsOnly, hasLabel = li < 0, hasWord = !word, hasChange = !changed;
      for (let t = a; t < b; t++) {
        if (!error && data.gold[t] !== data.pred[t]) error = true;
        if (!hasLabel && (data.gold[t] === li || data.pred[t] === li)) hasLabel = true;
        if (!hasWord && data.lowerWords[t].includes(word)) hasWord = true;
        if (!hasChange && changed.has(t)) hasChange = true;
      }
      if (error && hasLabel && hasWord && hasChange) state.matches.push(s);
    }
    state.page = 0;
  }

  function renderSentences() {
    const pages = Math.max(1, Math.ceil(state.matches.length / PAGE_SIZE));
    state.page = Math.max(0, Math.min(state.page, pages - 1));
    const shown = state.matches.slice(state.page * PAGE_SIZE, (state.page + 1) * PAGE_SIZE);
    const changed = state.ablation ? state.ablation.changed : null;
    const html = [];
    for (const s of shown) {
      html.push('<div class="sent" data-s="' + s + '"><span class="sid">#' + (s + 1) + "</span>");
      for (let t = data.starts[s]; t < data.starts[s] + data.lengths[s]; t++) {
        const wrong = data.gold[t] !== data.pred[t], to = changed ? changed.get(t) : undefined;
        html.push('<span class="tok' + (wrong ? " err" : "") + (to !== undefined ? " changed" : "") +
          (t === state.token ? " selected" : "") + '" data-t="' + t + '"><span class="w">' + esc(data.words[t]) +
          '</span><span class="g">' + esc(LABELS[data.gold[t]]) + '</span><span class="p">' + esc(LABELS[data.pred[t]]) +
          "</span>" + (data.column ? '<span class="c">' + esc(meta.column.classes[data.column[t]]) + "</span>" : "") +
          (to !== undefined ? '<span class="a">&rarr; ' + esc(LABELS[to]) + "</span>" : "") + "</span>");
      }
      html.push("</div>");
    }
    byId("sentences").innerHTML = html.join("") || '<p class="hint">no sentence matches</p>';
    byId("page-info").textContent = "page " + (state.page + 1) + " of " + pages + " (" + state.matches.length.toLocaleString("en") +
      " of " + data.lengths.length.toLocaleString("en") + " sentences match)";
    byId("page-prev").disabled = state.page === 0;
    byId("page-next").disabled = state.page >= pages - 1;
    recolour();
  }

  function recolour() {
    if (!data.complete && !(state.colour === "h" || state.colour === "contribution")) return;
    const q = state.colour, j = state.neuron, label = state.contributionLabel, scale = range(q, j, label);
    for (const el of byId("sentences").querySelectorAll(".tok")) {
      const [css, dark] = colour(value(q, j, Number(el.dataset.t), label), scale);
      el.style.background = css;
      el.classList.toggle("dark", dark);
    }
  }

  // ------------------------------------------------------------ one neuron

  function renderNeuron() {
    const j = state.neuron, q = state.colour, label = state.contributionLabel, top = topLabel(j);
    byId("neuron").value = String(j);
    byId("contribution-label-box").style.display = q === "contribution" ? "" : "none";
    const [lo, mid, hi] = range(q, j, label), w = within(q, j, label);
    byId("legend-low").textContent = fmt(lo, w);
    byId("legend-mid").textContent = fmt(mid, w);
    byId("legend-high").textContent = fmt(hi, w);
    const what = { h: "hidden state h_" + j, contribution: "contribution W[" + LABELS[label] + ", " + j + "] h_" + j +
      " to the logit of " + LABELS[label], c: "cell state c_" + j, i: "input gate i_" + j, f: "forget gate f_" + j,
      o: "output gate o_" + j }[q];
    byId("legend-caption").textContent = what + ": blue below " + fmt(mid, w) + ", red above; the ends are the largest " +
      "magnitude on " + meta.about.split + ". Values are rounded to within " + w.toPrecision(2) + ".";
    byId("neuron-info").innerHTML = esc(neuronName(j)) + (top >= 0 ? "; pushes " + esc(LABELS[top]) +
      " most (Xin S = " + fmtScore(meta.measures.xin[top][j]) + ")" : "") + "; output weights W[:, " + j + "] range " +
      fmtScore(Math.min(...outputWeights.map((r) => r[j]))) + " to " + fmtScore(Math.max(...outputWeights.map((r) => r[j]))) + ".";
    recolour();
    for (const tr of byId("rank-table").querySelectorAll("tbody tr")) tr.classList.toggle("current", Number(tr.dataset.neuron) === j);
    if (state.token >= 0) showToken(state.token);
  }

  function tooltipHtml(t) {
    const j = state.neuron, label = state.contributionLabel, s = data.sentenceOf[t], lines = [];
    lines.push('<div class="head">' + esc(data.words[t]) + "</div>");
    lines.push("sentence " + (s + 1) + ", word " + (t - data.starts[s] + 1) + " (token " + t + ")");
    lines.push("gold " + esc(LABELS[data.gold[t]]) + ", predicted " + esc(LABELS[data.pred[t]]) +
      (data.gold[t] !== data.pred[t] ? " (an error)" : ""));
    if (state.ablation && state.ablation.changed.has(t)) lines.push("after the ablation: " + esc(LABELS[state.ablation.changed.get(t)]));
    lines.push('<div class="head">' + esc(neuronName(j)) + "</div>");
    for (const q of data.complete ? ["h", "contribution", "c", "i", "f", "o"] : ["h", "contribution"]) {
      const name = q === "contribution" ? "W[" + esc(LABELS[label]) + ", " + j + "] h" : q;
      lines.push(name + " = " + num(q, value(q, j, t, label), within(q, j, label)));
    }
    if (!data.complete) lines.push("(c and the gates are still being decoded)");
    return tipHtml(lines);
  }

  function tipHtml(lines) {     // a tooltip's lines, each a <div>, and the note on rounding
    lines.push('<span class="note">decoded from rounded data: &plusmn; is the rounding bound</span>');
    return lines.map((line) => (line.startsWith("<div") ? line : "<div>" + line + "</div>")).join("");
  }

  function showTip(el, html) {  // the tooltip below the element, or above it near the bottom of the window
    const tip = byId("tooltip"), r = el.getBoundingClientRect();
    tip.innerHTML = html;
    tip.hidden = false;
    tip.style.left = Math.min(window.innerWidth - 370, Math.max(4, r.left)) + "px";
    tip.style.top = (r.bottom + 6 + 220 > window.innerHeight ? Math.max(4, r.top - 226) : r.bottom + 6) + "px";
  }

  function showToken(t) {       // a clicked token: the neurons behind its prediction
    state.token = t;
    const z = logits(t), p = data.pred[t];
    let rival = data.gold[t] !== p ? data.gold[t] : -1;
    if (rival < 0) for (let i = 0; i < nLabels; i++) if (i !== p && (rival < 0 || z[i] > z[rival])) rival = i;
    if (rival < 0) return;                          // a single label: nothing to compare with
    const pushes = [];
    let bound = 0;                                  // how far the rounding of h can move the margin
    for (let j = 0; j < nNeurons; j++) {
      pushes.push([j, (outputWeights[p][j] - outputWeights[rival][j]) * value("h", j, t)]);
      bound += Math.abs(outputWeights[p][j] - outputWeights[rival][j]) * quant.h.within[j];
    }
    pushes.sort((a, b) => b[1] - a[1]);
    const why = data.gold[t] !== p ? "the gold label " : "the runner-up ";
    byId("token-info").innerHTML = "<b>" + esc(data.words[t]) + "</b> (token " + t + "): predicted " + esc(LABELS[p]) +
      ", gold " + esc(LABELS[data.gold[t]]) + ". Logit margin over " + why + esc(LABELS[rival]) + ": " +
      fmtScore(z[p] - z[rival]) + " &plusmn; " + bound.toPrecision(2) + " (from the rounded h). Neurons that push " +
      esc(LABELS[p]) + " over " +
      esc(LABELS[rival]) + " most, (W[" + esc(LABELS[p]) + ", j] - W[" + esc(LABELS[rival]) + ", j]) h_j:<br>" +
      pushes.slice(0, 5).map(([j, v]) => '<a href="#" data-neuron="' + j + '">' + j + "</a> " + fmtScore(v)).join(", ");
  }

  // ------------------------------------------------------------ neurons by label

  function histogram(j) {       // neuron j: counts of each h code (-127..127) per label, computed when first drawn
    data.histograms = data.histograms || [];
    if (data.histograms[j]) return data.histograms[j];
    const group = meta.group_by === "gold" ? data.gold : data.pred, hist = new Uint32Array(nLabels * 255);
    for (let t = 0, k = j * nTokens; t < nTokens; t++, k++) hist[group[t] * 255 + data.h[k] + 127]++;
    return (data.histograms[j] = hist);
  }

  function quantiles(j, i, ps) {
    const hist = histogram(j), base = i * 255;
    let total = 0;
    for (let b = 0; b < 255; b++) total += hist[base + b];
    if (!total) return null;
    const out = [];
    let seen = 0, b = 0;
    for (const p of ps) {
      while (b < 254 && seen + hist[base + b] < p * total) { seen += hist[base + b]; b++; }
      out.push((b - 127) * quant.h.scale[j]);
    }
    return { values: out, count: total };
  }

  function tuningSvg(j, highlight) {
    const w = 8, height = 34, width = nLabels * w + 2, m = 127 * quant.h.scale[j];
    const y = (v) => (height - 2) * (1 - (v + m) / (2 * m)) + 1;
    const parts = ['<svg width="' + width + '" height="' + height + '" role="img" aria-label="tuning curve of neuron ' + j + '">',
      '<line x1="0" x2="' + width + '" y1="' + y(0) + '" y2="' + y(0) + '" stroke="#bbb" stroke-width="0.5"/>'];
    for (let i = 0; i < nLabels; i++) {
      const q = quantiles(j, i, [0.05, 0.25, 0.5, 0.75, 0.95]);
      if (!q) continue;
      const [p5, p25, p50, p75, p95] = q.values, x = 1 + i * w, fill = i === highlight ? "#c62828" : "#9e9e9e";
      parts.push("<g><title>" + esc(LABELS[i]) + ": median h " + p50.toFixed(3) + ", middle half " + p25.toFixed(3) +
        " to " + p75.toFixed(3) + " (" + q.count + " tokens)</title>" +
        '<line x1="' + (x + w / 2 - 0.5) + '" x2="' + (x + w / 2 - 0.5) + '" y1="' + y(p95) + '" y2="' + y(p5) + '" stroke="' + fill + '"/>' +
        '<rect x="' + (x + 0.5) + '" width="' + (w - 2) + '" y="' + y(p75) + '" height="' + Math.max(1, y(p25) - y(p75)) +
        '" fill="' + fill + '"/><line x1="' + x + '" x2="' + (x + w - 1) + '" y1="' + y(p50) + '" y2="' + y(p50) + '" stroke="#000"/></g>');
    }
    parts.push("</svg>");
    return parts.join("");
  }

  // Held equal to rank_neurons, ties and NaN included, by tests/test_explorer.py::test_the_pages_ranking_breaks_ties_like_rank_neurons.
  function rankOrder(i, name) {  // as rankings.rank_neurons: descending score, ties keep the lower neuron id, null (NaN) last
    const row = meta.measures[name][i], key = (j) => (row[j] === null ? -Infinity : row[j]);
    return [...Array(nNeurons).keys()].sort((a, b) => (key(b) - key(a)) || (a - b));
  }

  function renderRanking() {
    const i = state.rankLabel, name = state.ranking, row = meta.measures[name][i], xin = meta.measures.xin[i];
    const order = rankOrder(i, name).slice(0, state.rankAll ? nNeurons : RANK_ROWS);
    byId("rank-score-head").textContent = name;
    byId("rank-caption").textContent = "Neurons for " + LABELS[i] + " by " + meta.measure_titles[name] +
      ". Tuning curves: the distribution of h_j over the tokens of each label (by " + meta.group_by +
      " label; box: middle half, line: median, whisker: 5th to 95th percentile; " + LABELS[i] + " in red)." +
      (meta.directions.bidirectional ? " fwd, bwd: the neuron's direction." : "") + " Click a row.";
    byId("rank-table").tBodies[0].innerHTML = order.map((j, r) => '<tr data-neuron="' + j + '"' +
      (j === state.neuron ? ' class="current"' : "") + "><td>" + (r + 1) + '</td><td title="' + esc(neuronName(j)) + '">' + esc(shortName(j)) +
      '</td><td data-value="' + row[j] + '">' + fmtScore(row[j]) + '</td><td data-value="' + xin[j] + '">' +
      fmtScore(xin[j]) + "</td><td>" + tuningSvg(j, i) + "</td></tr>").join("");
    byId("rank-more").textContent = state.rankAll ? "show the top " + RANK_ROWS : "show all " + nNeurons + " neurons";
    byId("rank-more").style.display = nNeurons > RANK_ROWS ? "" : "none";
  }

  // ------------------------------------------------------------ ablation

  function renderAblationChoices() {
    const mode = byId("ablation-mode").value, entries = meta.ablation[mode].entries;
    const label = byId("ablation-label").value;
    byId("ablation-label").innerHTML = Object.keys(entries).map((l) => "<option>" + esc(l) + "</option>").join("");
    if (label in entries) byId("ablation-label").value = label;
    const k = byId("ablation-k").value;
    const ks = Object.keys(entries[byId("ablation-label").value] || {}).map(Number).sort((a, b) => a - b);
    byId("ablation-k").innerHTML = ks.map((x) => "<option>" + x + "</option>").join("");
    if (ks.includes(Number(k))) byId("ablation-k").value = k;
  }

  function countAblation(mode, label, k) {   // the tokens it changes (token -> new label), each label's accuracy before and after
    const entry = meta.ablation[mode].entries[label][k], changed = new Map();
    for (let r = 0, t = 0; r < entry.count; r++) {
      t += data.ablationTokens[entry.offset + r];
      changed.set(t, data.ablationTo[entry.offset + r]);
    }
    const total = new Array(nLabels).fill(0), before = new Array(nLabels).fill(0), after = new Array(nLabels).fill(0);
    for (let t = 0; t < nTokens; t++) {
      const g = data.gold[t], p = changed.has(t) ? changed.get(t) : data.pred[t];
      total[g]++;
      if (data.pred[t] === g) before[g]++;
      if (p === g) after[g]++;
    }
    let broke = 0, fixed = 0;
    for (const [t, p] of changed) { if (data.pred[t] === data.gold[t]) broke++; else if (p === data.gold[t]) fixed++; }
    const li = LABELS.indexOf(label), drop = total[li] ? (before[li] - after[li]) / total[li] : NaN;
    return { mode, label, k: Number(k), entry, changed, total, before, after, broke, fixed, labelIndex: li, drop };
  }

  function renderAblation(ablation) {       // the summary and the table of accuracies; the sentences mark what changed
    const { mode, label, k, entry, changed, total, before, after, broke, fixed, labelIndex: li, drop } = ablation;
    const how = mode === "output" ? "zeroed where they enter the linear layer" : "clamped to zero inside the LSTM at every step";
    const rows = LABELS.map((l, i) => total[i] ? "<tr" + (i === li ? ' style="font-weight:bold"' : "") + "><td>" + esc(l) +
      "</td><td>" + total[i] + "</td><td>" + (before[i] / total[i]).toFixed(4) + "</td><td>" + (after[i] / total[i]).toFixed(4) +
      "</td><td>" + (100 * (before[i] - after[i]) / total[i]).toFixed(2) + "</td></tr>" : "").join("");
    byId("ablation-summary").innerHTML = "<p>Top-" + k + " neurons of <b>" + esc(label) + "</b> by " +
      esc(meta.measure_titles[meta.ranking]) + ", " + how + " (" + mode + " mode): " +
      entry.neurons.map((j) => '<a href="#" data-neuron="' + j + '">' + j + "</a>").join(", ") + ".</p>" +
      '<p><span id="ablation-changed" data-value="' + changed.size + '">' + changed.size.toLocaleString("en") +
      "</span> tokens change prediction: " + broke + " right &rarr; wrong, " + fixed + " wrong &rarr; right, " +
      (changed.size - broke - fixed) + " wrong &rarr; another wrong label.</p>" +
      "<p>" + esc(label) + " accuracy " + (before[li] / total[li]).toFixed(4) + " &rarr; " + (after[li] / total[li]).toFixed(4) +
      ': a drop of <b id="ablation-drop" data-value="' + drop + '">' + (100 * drop).toFixed(2) + "</b> points, recomputed " +
      'from the tokens on this page; the run measured <b id="ablation-run-drop" data-value="' + entry.run_drop + '">' +
      (entry.run_drop === null ? "n/a" : (100 * entry.run_drop).toFixed(2)) + "</b> (analysis.json).</p>" +
      "<table><thead><tr><th>label</th><th>gold tokens</th><th>accuracy</th><th>ablated</th><th>drop (points)</th></tr></thead>" +
      "<tbody>" + rows + "</tbody></table>";
    byId("filter-ablated").disabled = false;
    computeMatches(); renderSentences();
  }

  function applyAblation() {
    state.ablation = countAblation(byId("ablation-mode").value, byId("ablation-label").value, byId("ablation-k").value);
    renderAblation(state.ablation);
  }

  function clearAblation() {
    state.ablation = null;
    byId("filter-ablated").checked = false;
    byId("filter-ablated").disabled = true;
    byId("ablation-summary").innerHTML = '<p class="hint">No ablation: the predictions are the model\'s own.</p>';
    computeMatches(); renderSentences();
  }

  // ------------------------------------------------------------ one minimal pair

  // A pair's restored fractions are (S, T, Hout) int8 codes from its offset (site, sentence position, neuron),
  // value = code * scale[site] (within scale / 2), PAIRS.nan_code where undefined (report/explorer_encoding.py).
  const PAIRS = meta.pairs, PAIR_ROWS = 16, SITE_NAMES = { h: "hidden state h", c: "cell state c" };

  function pairCode(entry, s, t, j) { return data.patching[entry.offset + (s * entry.clean.length + t) * nNeurons + j]; }

  function pairValue(entry, s, t, j) {   // the restored fraction, null where undefined
    const code = pairCode(entry, s, t, j);
    return code === PAIRS.nan_code ? null : code * entry.scale[s];
  }

  function pairOrder(entry, s) {  // neurons by their total over the positions, largest first (integer sums: ties keep the lower id)
    const codes = new Array(nNeurons).fill(0);
    for (let t = 0; t < entry.clean.length; t++) {
      for (let j = 0; j < nNeurons; j++) { const code = pairCode(entry, s, t, j); if (code !== PAIRS.nan_code) codes[j] += code; }
    }
    const order = [...Array(nNeurons).keys()].sort((a, b) => (codes[b] - codes[a]) || (a - b));
    return { order, totals: codes.map((x) => x * entry.scale[s]) };
  }

  function pairTitle(entry) {     // the clean sentence with each differing word as clean/corrupted
    const words = entry.clean.map((w, t) => (w === entry.corrupted[t] ? w : w + "/" + entry.corrupted[t])).join(" ");
    return "#" + (entry.pair + 1) + ": " + words + " (" + entry.clean_label + " / " + entry.corrupted_label + ")";
  }

  function pairCellHtml(t, j) {
    const entry = PAIRS.pairs[state.pair], s = PAIRS.sites.indexOf(state.pairSite), v = pairValue(entry, s, t, j);
    return tipHtml(['<div class="head">' + esc(neuronName(j)) + ", position " + t + "</div>",
      "clean " + esc(entry.clean[t]) + ", corrupted " + esc(entry.corrupted[t]) + (t === entry.position ? " (the word read)" : ""),
      "its " + state.pairSite + " copied from the clean run restores " + (v === null ? "n/a (undefined)" :
        num("restored", v, entry.scale[s] / 2)) + " of z[" + esc(entry.clean_label) + "] - z[" + esc(entry.corrupted_label) +
      "] at " + esc(entry.clean[entry.position])]);
  }

  function showPairCell() {       // the clicked cell: marked, its value kept under the grid
    for (const el of byId("pair-grid").querySelectorAll("td.selected")) el.classList.remove("selected");
    if (!state.pairCell) { byId("pair-cell").textContent = "Click a cell to keep its value here."; return; }
    const [t, j] = state.pairCell, el = byId("pair-grid").querySelector('td[data-t="' + t + '"][data-neuron="' + j + '"]');
    if (el) el.classList.add("selected");
    byId("pair-cell").innerHTML = pairCellHtml(t, j);
  }

  function renderPair() {
    const entry = PAIRS.pairs[state.pair], s = PAIRS.sites.indexOf(state.pairSite), w = entry.scale[s] / 2;
    const T = entry.clean.length, positions = [...Array(T).keys()], read = entry.position;
    const { order, totals } = pairOrder(entry, s), shown = order.slice(0, state.pairAll ? nNeurons : PAIR_ROWS);
    byId("pair").value = String(state.pair);
    byId("pair-site").value = state.pairSite;
    const diff = positions.filter((t) => entry.clean[t] !== entry.corrupted[t]);
    const word = (words, t) => '<th class="' + (diff.includes(t) ? "diff" : "") + (t === read ? " read" : "") + '">' + esc(words[t]) + "</th>";
    const sentence = (name, words, label) => '<tr class="' + name + '"><th>' + name + '</th><th title="the label it gives the word read">' +
      esc(label) + "</th>" + positions.map((t) => word(words, t)).join("") + "</tr>";
    byId("pair-grid").tHead.innerHTML = "<tr><th>neuron</th><th>total</th>" + positions.map((t) => "<th>" + t + "</th>").join("") +
      "</tr>" + sentence("clean", entry.clean, entry.clean_label) + sentence("corrupted", entry.corrupted, entry.corrupted_label);
    byId("pair-grid").tBodies[0].innerHTML = shown.map((j) => '<tr data-neuron="' + j + '"><th><a href="#" data-neuron="' + j +
      '" title="' + esc(neuronName(j)) + '">' + esc(shortName(j)) + '</a></th><td class="total" data-value="' + totals[j] + '">' +
      fmt(totals[j], w) + "</td>" + positions.map((t) => {
        const v = pairValue(entry, s, t, j);
        return '<td class="cell' + (v === null ? " nan" : "") + (t === read ? " read-col" : "") + '" data-t="' + t +
          '" data-neuron="' + j + '" data-value="' + (v === null ? "NaN" : v) + '"' +
          (v === null ? "" : ' style="background:' + colour(v, [-1, 0, 1])[0] + '"') + "></td>";
      }).join("") + "</tr>").join("");
    byId("pair-info").innerHTML = "Pair " + (entry.pair + 1) + " of the run's " + PAIRS.n_pairs + " (" + esc(PAIRS.source) +
      "): the clean sentence gives <b>" + esc(entry.clean_label) + "</b> to &quot;" + esc(entry.clean[read]) +
      "&quot; (position " + read + "), the corrupted one, which differs in " + diff.map((t) => "&quot;" +
      esc(entry.clean[t]) + "&quot; &rarr; &quot;" + esc(entry.corrupted[t]) + "&quot;").join(", ") + " (highlighted), <b>" +
      esc(entry.corrupted_label) + "</b>.";
    byId("pair-caption").textContent = "A cell: the fraction of the logit difference z[" + entry.clean_label + "] - z[" +
      entry.corrupted_label + "] at the outlined word that comes back when only this neuron's " + SITE_NAMES[state.pairSite] +
      " at this position is copied from the clean sentence's run into the corrupted sentence's run: 1 = that value alone " +
      "restores the whole difference, 0 = none of it, below 0 = it pushes further toward " + entry.corrupted_label +
      ". Red up to +1, blue down to -1 (beyond them the full colour); hatched: undefined. Rows: the neurons by their total " +
      "over the positions, largest first" + (meta.directions.bidirectional ? "; at a position a fwd neuron has read the " +
      "words up to it, a bwd neuron the words from it to the end" : "") + ". Values are rounded to within " +
      w.toPrecision(2) + "; hover or click a cell for its value, click a neuron to put it under the microscope.";
    byId("pair-more").textContent = state.pairAll ? "show the top " + PAIR_ROWS : "show all " + nNeurons + " neurons";
    byId("pair-more").style.display = nNeurons > PAIR_ROWS ? "" : "none";
    showPairCell();
  }

  function setUpPairs(followNeuronLink) {
    byId("pair-panel").hidden = false;
    byId("pair-summary").textContent = "the model reads " + PAIRS.n_used + " of the run's " + PAIRS.n_pairs +
      " pairs as intended; " +
      (PAIRS.pairs.length < PAIRS.n_used ? "the first " + PAIRS.pairs.length + " are here" : "all of them are here");
    options(byId("pair"), PAIRS.pairs.map((entry, k) => [k, pairTitle(entry)]));
    options(byId("pair-site"), PAIRS.sites.map((q) => [q, SITE_NAMES[q] || q]));
    const draw = () => whenComplete(renderPair), n = PAIRS.pairs.length;
    const choose = (k) => { state.pair = ((k % n) + n) % n; state.pairCell = null; draw(); };
    byId("pair-details").addEventListener("toggle", act("pair", () => { if (byId("pair-details").open) draw(); }));
    byId("pair").addEventListener("change", act("pair", (e) => choose(Number(e.target.value))));
    byId("pair-prev").addEventListener("click", act("pair", () => choose(state.pair - 1)));
    byId("pair-next").addEventListener("click", act("pair", () => choose(state.pair + 1)));
    byId("pair-site").addEventListener("change", act("pair", (e) => { state.pairSite = e.target.value; draw(); }));
    byId("pair-more").addEventListener("click", act("pair", () => { state.pairAll = !state.pairAll; draw(); }));
    const grid = byId("pair-grid");
    grid.addEventListener("mouseover", (e) => {
      const el = e.target.closest("td.cell");
      if (el) showTip(el, pairCellHtml(Number(el.dataset.t), Number(el.dataset.neuron)));
    });
    grid.addEventListener("mouseout", (e) => { if (e.target.closest("td.cell")) byId("tooltip").hidden = true; });
    grid.addEventListener("click", act("pair", (e) => {
      followNeuronLink(e);
      const el = e.target.closest("td.cell");
      if (el) { state.pairCell = [Number(el.dataset.t), Number(el.dataset.neuron)]; showPairCell(); }
    }));
  }

  // ------------------------------------------------------------ wiring

  function act(name, fn) {      // every interaction is timed (window.explorerTimings)
    return (event) => {
      const t0 = performance.now();
      fn(event);
      void document.body.offsetHeight;      // include the layout in the time
      const ms = performance.now() - t0;
      timings.interactions.push({ name, ms });
      timings.last_ms = ms;
    };
  }

  function selectNeuron(j) { state.neuron = ((j % nNeurons) + nNeurons) % nNeurons; renderNeuron(); }

  function options(select, items) { select.innerHTML = items.map(([v, text]) => '<option value="' + esc(v) + '">' + esc(text) + "</option>").join(""); }

  function setUp() {
    if (meta.column) byId("under-each-word").textContent = "Under each word: gold label, predicted label (red where " +
      "it is wrong), then in green the data's " + meta.column.name + ", the property the probe reads. Hover a word for its numbers.";
    const a = meta.about;
    byId("title").textContent = "Neuron explorer: " + a.run + ", seed " + a.seed;
    byId("about").textContent = "Model " + a.model + ". Split: " + a.split + " (" + data.lengths.length.toLocaleString("en") +
      " sentences, " + nTokens.toLocaleString("en") + " tokens), " + a.data + ". Seed " + a.seed +
      (a.dev_token_acc !== null && a.dev_token_acc !== undefined ? ", dev token accuracy " + a.dev_token_acc.toFixed(4) : "") +
      ". Predicted label: the " + a.prediction + ".";
    byId("footer").textContent = "Command: " + a.command + ". Written by lstm_numpy; h is stored to 8 bits and c to 7 bits, " +
      "each with a scale per neuron, the gates to 4 bits (hover: every value with its rounding bound). Decoded in " +
      timings.decode_ms.toFixed(0) + " ms.";
    options(byId("neuron"), [...Array(nNeurons).keys()].map((j) => { const t = topLabel(j); return [j, neuronName(j) + (t >= 0 ? ", top " + LABELS[t] : "")]; }));
    const labelOptions = LABELS.map((l, i) => [i, l]);
    for (const id of ["contribution-label", "rank-label"]) options(byId(id), labelOptions);
    byId("filter-label").innerHTML += LABELS.map((l, i) => '<option value="' + i + '">' + esc(l) + "</option>").join("");
    options(byId("ranking"), Object.keys(meta.measures).map((name) => [name, meta.measure_titles[name]]));
    byId("ranking").value = state.ranking;
    const modes = Object.keys(meta.ablation);
    options(byId("ablation-mode"), modes.map((m) => [m, m]));
    byId("ablation-panel").style.display = modes.length ? "" : "none";
    if (modes.length) renderAblationChoices();
    // start on the neuron with the largest Xin sensitivity, and on the first label that is not O
    let best = [0, 0];
    meta.measures.xin.forEach((row, i) => row.forEach((v, j) => { if (v !== null && v > meta.measures.xin[best[0]][best[1]]) best = [i, j]; }));
    [state.contributionLabel, state.neuron] = best;
    state.rankLabel = Math.max(0, LABELS.findIndex((l) => l !== "O"));
    byId("contribution-label").value = String(state.contributionLabel);
    byId("rank-label").value = String(state.rankLabel);

    byId("neuron").addEventListener("change", act("neuron", (e) => selectNeuron(Number(e.target.value))));
    byId("neuron-prev").addEventListener("click", act("neuron", () => selectNeuron(state.neuron - 1)));
    byId("neuron-next").addEventListener("click", act("neuron", () => selectNeuron(state.neuron + 1)));
    byId("colour").addEventListener("change", act("colour", (e) => { state.colour = e.target.value; whenComplete(renderNeuron); }));
    byId("contribution-label").addEventListener("change", act("colour", (e) => { state.contributionLabel = Number(e.target.value); renderNeuron(); }));
    byId("rank-label").addEventListener("change", act("rank", (e) => { state.rankLabel = Number(e.target.value); renderRanking(); }));
    byId("ranking").addEventListener("change", act("rank", (e) => { state.ranking = e.target.value; renderRanking(); }));
    byId("rank-more").addEventListener("click", act("rank", () => { state.rankAll = !state.rankAll; renderRanking(); }));
    byId("rank-table").addEventListener("click", act("neuron", (e) => { const tr = e.target.closest("tr[data-neuron]"); if (tr) selectNeuron(Number(tr.dataset.neuron)); }));
    for (const id of ["filter-errors", "filter-label", "filter-ablated"]) byId(id).addEventListener("change", act("filter", () => { computeMatches(); renderSentences(); }));
    byId("filter-word").addEventListener("input", act("filter", () => { computeMatches(); renderSentences(); }));
    byId("page-prev").addEventListener("click", act("page", () => { state.page--; renderSentences(); }));
    byId("page-next").addEventListener("click", act("page", () => { state.page++; renderSentences(); }));
    byId("ablation-mode").addEventListener("change", act("ablation", renderAblationChoices));
    byId("ablation-label").addEventListener("change", act("ablation", renderAblationChoices));
    byId("ablation-apply").addEventListener("click", act("ablation", () => whenComplete(applyAblation)));
    byId("ablation-clear").addEventListener("click", act("ablation", clearAblation));
    const neuronLinks = (e) => { const a = e.target.closest("a[data-neuron]"); if (a) { e.preventDefault(); selectNeuron(Number(a.dataset.neuron)); } };
    byId("ablation-summary").addEventListener("click", act("neuron", neuronLinks));
    byId("token-info").addEventListener("click", act("neuron", neuronLinks));
    if (PAIRS) setUpPairs(neuronLinks);
    byId("sentences").addEventListener("mouseover", (e) => {
      const el = e.target.closest(".tok");
      if (el) showTip(el, tooltipHtml(Number(el.dataset.t)));
    });
    byId("sentences").addEventListener("mouseout", (e) => { if (e.target.closest(".tok")) byId("tooltip").hidden = true; });
    byId("sentences").addEventListener("click", act("token", (e) => {
      const el = e.target.closest(".tok");
      if (!el) return;
      for (const x of byId("sentences").querySelectorAll(".tok.selected")) x.classList.remove("selected");
      el.classList.add("selected");
      showToken(Number(el.dataset.t));
    }));
  }

  async function main() {
    try {
      const decodeTo = await decode();
      let t = performance.now();
      const mark = (name) => { const now = performance.now(); timings[name + "_ms"] = now - t; t = now; };
      setUp(); mark("setup");
      computeMatches(); renderSentences(); mark("sentences");
      renderNeuron(); mark("neuron");
      renderRanking(); mark("ranking");
      timings.ready_ms = performance.now();
      restDecoded = decodeRest(decodeTo);
      byId("status").textContent = "Ready. Click a neuron in \"Neurons by label\", a word for the neurons behind its " +
        "prediction, or ablate a label's top neurons" + (PAIRS ? "; open a minimal pair for where its decision is carried." : ".");
      document.body.dataset.ready = "1";
      await restDecoded;
    } catch (err) {
      byId("status").textContent = "error: " + err.message;
      byId("status").classList.add("error");
      console.error(err);
      throw err;
    }
  }
  main();
})();
