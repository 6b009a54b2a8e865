/* The explorer's views, written for this project (no framework, no network): it reads the
 * JSON in #explorer-meta, has explorer_decode.js decode the data, and draws four views:
 * sentences, one neuron, neurons by label, and an ablation. ASCII only.
 * Arrays of activity are neuron-major: value of neuron j at token t is at j * N + t. */
"use strict";
(function () {
  const scriptStart = performance.now();
  const META = JSON.parse(document.getElementById("explorer-meta").textContent);
  const $ = (id) => document.getElementById(id);
  const N = META.n_tokens, H = META.n_neurons, LABELS = META.labels, K = LABELS.length;
  const Q = META.quant, W = META.W, B = META.b;
  const PAGE_SIZE = 25, RANK_ROWS = 12;
  const NEG = [33, 102, 172], POS = [178, 24, 43];
  const D = {};                                   // the decoded data
  const S = { neuron: 0, colour: "h", contributionLabel: 0, page: 0, matches: [], ablation: null,
              rankLabel: 0, ranking: META.ranking, rankAll: false, token: -1 };
  const timings = (window.explorerTimings = { interactions: [], script_start_ms: scriptStart,
                                               meta_ms: performance.now() - scriptStart });
  const { decode, decodeRest, outputGate } = explorerDecoder(META, D, timings);     // explorer_decode.js

  let rest = null;                              // the promise of decodeRest
  function whenComplete(fn) { return D.complete ? fn() : rest.then(fn); }

  // ------------------------------------------------------------ numbers

  function value(q, j, t, label) {
    const k = j * N + t;
    if (q === "h") return D.h[k] * Q.h.scale[j];
    if (q === "c") return D.c[k] * Q.c.scale[j];
    if (q === "contribution") return W[label][j] * D.h[k] * Q.h.scale[j];
    if (q === "o") return outputGate(j)[t] / Q.o.levels;
    return ((D[q][k >> 1] >> ((k & 1) << 2)) & 15) / Q[q].levels;      // i, f
  }

  function within(q, j, label) {
    if (q === "h" || q === "c") return Q[q].within[j];
    if (q === "contribution") return Math.abs(W[label][j]) * Q.h.within[j];
    return Q[q].within;
  }

  function range(q, j, label) {       // [low, middle, high] of the colour scale: the largest |value| on dev
    if (q === "h" || q === "c") { const m = 127 * Q[q].scale[j]; return [-m, 0, m]; }
    if (q === "contribution") { const m = Math.abs(W[label][j]) * 127 * Q.h.scale[j]; return [-m, 0, m]; }
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
    const base = u >= 0 ? POS : NEG, a = Math.abs(u);
    const rgb = base.map((x) => Math.round(255 + (x - 255) * a));
    return ["rgb(" + rgb.join(",") + ")", a > 0.55];
  }

  function neuronName(j) {
    const d = META.directions;
    if (!d.bidirectional) return "neuron " + j;
    return j < d.hidden ? "neuron " + j + " (forward)" : "neuron " + j + " (backward, " + (j - d.hidden) + " of its direction)";
  }

  function shortName(j) {
    const d = META.directions;
    return d.bidirectional ? j + (j < d.hidden ? " fwd" : " bwd") : String(j);
  }

  function topLabel(j) {        // the label neuron j pushes most, by Xin sensitivity
    let best = -1;
    for (let i = 0; i < K; i++) {
      const s = META.measures.xin[i][j];
      if (s !== null && (best < 0 || s > META.measures.xin[best][j])) best = i;
    }
    return best;
  }

  function logits(t) {          // from the decoded h: z_i = sum_j W[i, j] h_j + b_i
    const z = B.slice();
    for (let j = 0; j < H; j++) { const hj = value("h", j, t); for (let i = 0; i < K; i++) z[i] += W[i][j] * hj; }
    return z;
  }

  // ------------------------------------------------------------ sentences

  function computeMatches() {
    const errorsOnly = $("filter-errors").checked, label = $("filter-label").value;
    const word = $("filter-word").value.trim().toLowerCase();
    const changed = $("filter-ablated").checked && S.ablation ? S.ablation.changed : null;
    const li = label === "" ? -1 : Number(label);
    if (word && !D.lower) D.lower = D.words.map((w) => w.toLowerCase());
    S.matches = [];
    for (let s = 0; s < D.lengths.length; s++) {
      const a = D.starts[s], b = a + D.lengths[s];
      let error = !errorsOnly, hasLabel = li < 0, hasWord = !word, hasChange = !changed;
      for (let t = a; t < b; t++) {
        if (!error && D.gold[t] !== D.pred[t]) error = true;
        if (!hasLabel && (D.gold[t] === li || D.pred[t] === li)) hasLabel = true;
        if (!hasWord && D.lower[t].includes(word)) hasWord = true;
        if (!hasChange && changed.has(t)) hasChange = true;
      }
      if (error && hasLabel && hasWord && hasChange) S.matches.push(s);
    }
    S.page = 0;
  }

  function renderSentences() {
    const pages = Math.max(1, Math.ceil(S.matches.length / PAGE_SIZE));
    S.page = Math.max(0, Math.min(S.page, pages - 1));
    const shown = S.matches.slice(S.page * PAGE_SIZE, (S.page + 1) * PAGE_SIZE);
    const changed = S.ablation ? S.ablation.changed : null;
    const html = [];
    for (const s of shown) {
      html.push('<div class="sent" data-s="' + s + '"><span class="sid">#' + (s + 1) + "</span>");
      for (let t = D.starts[s]; t < D.starts[s] + D.lengths[s]; t++) {
        const wrong = D.gold[t] !== D.pred[t], to = changed ? changed.get(t) : undefined;
        html.push('<span class="tok' + (wrong ? " err" : "") + (to !== undefined ? " changed" : "") +
          (t === S.token ? " selected" : "") + '" data-t="' + t + '"><span class="w">' + esc(D.words[t]) +
          '</span><span class="g">' + esc(LABELS[D.gold[t]]) + '</span><span class="p">' + esc(LABELS[D.pred[t]]) +
          "</span>" + (to !== undefined ? '<span class="a">&rarr; ' + esc(LABELS[to]) + "</span>" : "") + "</span>");
      }
      html.push("</div>");
    }
    $("sentences").innerHTML = html.join("") || '<p class="hint">no sentence matches</p>';
    $("page-info").textContent = "page " + (S.page + 1) + " of " + pages + " (" + S.matches.length.toLocaleString("en") +
      " of " + D.lengths.length.toLocaleString("en") + " sentences match)";
    $("page-prev").disabled = S.page === 0;
    $("page-next").disabled = S.page >= pages - 1;
    recolour();
  }

  function recolour() {
    if (!D.complete && !(S.colour === "h" || S.colour === "contribution")) return;
    const q = S.colour, j = S.neuron, label = S.contributionLabel, scale = range(q, j, label);
    for (const el of $("sentences").querySelectorAll(".tok")) {
      const [css, dark] = colour(value(q, j, Number(el.dataset.t), label), scale);
      el.style.background = css;
      el.classList.toggle("dark", dark);
    }
  }

  // ------------------------------------------------------------ one neuron

  function renderNeuron() {
    const j = S.neuron, q = S.colour, label = S.contributionLabel, top = topLabel(j);
    $("neuron").value = String(j);
    $("contribution-label-box").style.display = q === "contribution" ? "" : "none";
    const [lo, mid, hi] = range(q, j, label), w = within(q, j, label);
    $("legend-low").textContent = fmt(lo, w);
    $("legend-mid").textContent = fmt(mid, w);
    $("legend-high").textContent = fmt(hi, w);
    const what = { h: "hidden state h_" + j, contribution: "contribution W[" + LABELS[label] + ", " + j + "] h_" + j +
      " to the logit of " + LABELS[label], c: "cell state c_" + j, i: "input gate i_" + j, f: "forget gate f_" + j,
      o: "output gate o_" + j }[q];
    $("legend-caption").textContent = what + ": blue below " + fmt(mid, w) + ", red above; the ends are the largest " +
      "magnitude on " + META.about.split + ". Values are rounded to within " + w.toPrecision(2) + ".";
    $("neuron-info").innerHTML = esc(neuronName(j)) + (top >= 0 ? "; pushes " + esc(LABELS[top]) +
      " most (Xin S = " + fmtScore(META.measures.xin[top][j]) + ")" : "") + "; output weights W[:, " + j + "] range " +
      fmtScore(Math.min(...W.map((r) => r[j]))) + " to " + fmtScore(Math.max(...W.map((r) => r[j]))) + ".";
    recolour();
    for (const tr of $("rank-table").querySelectorAll("tbody tr")) tr.classList.toggle("current", Number(tr.dataset.neuron) === j);
    if (S.token >= 0) showToken(S.token);
  }

  function tooltipHtml(t) {
    const j = S.neuron, label = S.contributionLabel, lines = [];
    const s = D.sentenceOf[t];
    lines.push('<div class="head">' + esc(D.words[t]) + "</div>");
    lines.push("sentence " + (s + 1) + ", word " + (t - D.starts[s] + 1) + " (token " + t + ")");
    lines.push("gold " + esc(LABELS[D.gold[t]]) + ", predicted " + esc(LABELS[D.pred[t]]) +
      (D.gold[t] !== D.pred[t] ? " (an error)" : ""));
    if (S.ablation && S.ablation.changed.has(t)) lines.push("after the ablation: " + esc(LABELS[S.ablation.changed.get(t)]));
    lines.push('<div class="head">' + esc(neuronName(j)) + "</div>");
    for (const q of D.complete ? ["h", "contribution", "c", "i", "f", "o"] : ["h", "contribution"]) {
      const name = q === "contribution" ? "W[" + esc(LABELS[label]) + ", " + j + "] h" : q;
      lines.push(name + " = " + num(q, value(q, j, t, label), within(q, j, label)));
    }
    if (!D.complete) lines.push("(c and the gates are still being decoded)");
    lines.push('<span class="note">decoded from rounded data: &plusmn; is the rounding bound</span>');
    return lines.map((line) => (line.startsWith("<div") ? line : "<div>" + line + "</div>")).join("");
  }

  function showToken(t) {       // a clicked token: the neurons behind its prediction
    S.token = t;
    const z = logits(t), p = D.pred[t];
    let rival = D.gold[t] !== p ? D.gold[t] : -1;
    if (rival < 0) for (let i = 0; i < K; i++) if (i !== p && (rival < 0 || z[i] > z[rival])) rival = i;
    if (rival < 0) return;                          // a single label: nothing to compare with
    const pushes = [];
    let bound = 0;                                  // how far the rounding of h can move the margin
    for (let j = 0; j < H; j++) {
      pushes.push([j, (W[p][j] - W[rival][j]) * value("h", j, t)]);
      bound += Math.abs(W[p][j] - W[rival][j]) * Q.h.within[j];
    }
    pushes.sort((a, b) => b[1] - a[1]);
    const why = D.gold[t] !== p ? "the gold label " : "the runner-up ";
    $("token-info").innerHTML = "<b>" + esc(D.words[t]) + "</b> (token " + t + "): predicted " + esc(LABELS[p]) +
      ", gold " + esc(LABELS[D.gold[t]]) + ". Logit margin over " + why + esc(LABELS[rival]) + ": " +
      fmtScore(z[p] - z[rival]) + " &plusmn; " + bound.toPrecision(2) + " (from the rounded h). Neurons that push " +
      esc(LABELS[p]) + " over " +
      esc(LABELS[rival]) + " most, (W[" + esc(LABELS[p]) + ", j] - W[" + esc(LABELS[rival]) + ", j]) h_j:<br>" +
      pushes.slice(0, 5).map(([j, v]) => '<a href="#" data-neuron="' + j + '">' + j + "</a> " + fmtScore(v)).join(", ");
  }

  // ------------------------------------------------------------ neurons by label

  function histogram(j) {       // neuron j: counts of each h code (-127..127) per label, computed when first drawn
    D.hist = D.hist || [];
    if (D.hist[j]) return D.hist[j];
    const group = META.group_by === "gold" ? D.gold : D.pred, hist = new Uint32Array(K * 255);
    for (let t = 0, k = j * N; t < N; t++, k++) hist[group[t] * 255 + D.h[k] + 127]++;
    return (D.hist[j] = hist);
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
      out.push((b - 127) * Q.h.scale[j]);
    }
    return { values: out, count: total };
  }

  function tuningSvg(j, highlight) {
    const w = 8, height = 34, width = K * w + 2, m = 127 * Q.h.scale[j];
    const y = (v) => (height - 2) * (1 - (v + m) / (2 * m)) + 1;
    const parts = ['<svg width="' + width + '" height="' + height + '" role="img" aria-label="tuning curve of neuron ' + j + '">',
      '<line x1="0" x2="' + width + '" y1="' + y(0) + '" y2="' + y(0) + '" stroke="#bbb" stroke-width="0.5"/>'];
    for (let i = 0; i < K; i++) {
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

  function rankOrder(i, name) {  // as rankings.rank_neurons: descending, ties by lower id, undefined last
    const row = META.measures[name][i], key = (j) => (row[j] === null ? -Infinity : row[j]);
    return [...Array(H).keys()].sort((a, b) => (key(b) - key(a)) || (a - b));
  }

  function renderRanking() {
    const i = S.rankLabel, name = S.ranking, row = META.measures[name][i], xin = META.measures.xin[i];
    const order = rankOrder(i, name).slice(0, S.rankAll ? H : RANK_ROWS);
    $("rank-score-head").textContent = name;
    $("rank-caption").textContent = "Neurons for " + LABELS[i] + " by " + META.measure_titles[name] +
      ". Tuning curves: the distribution of h_j over the tokens of each label (by " + META.group_by +
      " label; box: middle half, line: median, whisker: 5th to 95th percentile; " + LABELS[i] + " in red)." +
      (META.directions.bidirectional ? " fwd, bwd: the neuron's direction." : "") + " Click a row.";
    $("rank-table").tBodies[0].innerHTML = order.map((j, r) => '<tr data-neuron="' + j + '"' +
      (j === S.neuron ? ' class="current"' : "") + "><td>" + (r + 1) + '</td><td title="' + esc(neuronName(j)) + '">' + esc(shortName(j)) +
      '</td><td data-value="' + row[j] + '">' + fmtScore(row[j]) + '</td><td data-value="' + xin[j] + '">' +
      fmtScore(xin[j]) + "</td><td>" + tuningSvg(j, i) + "</td></tr>").join("");
    $("rank-more").textContent = S.rankAll ? "show the top " + RANK_ROWS : "show all " + H + " neurons";
    $("rank-more").style.display = H > RANK_ROWS ? "" : "none";
  }

  // ------------------------------------------------------------ ablation

  function renderAblationChoices() {
    const mode = $("ablation-mode").value, entries = META.ablation[mode].entries;
    const label = $("ablation-label").value;
    $("ablation-label").innerHTML = Object.keys(entries).map((l) => "<option>" + esc(l) + "</option>").join("");
    if (label in entries) $("ablation-label").value = label;
    const k = $("ablation-k").value;
    const ks = Object.keys(entries[$("ablation-label").value] || {}).map(Number).sort((a, b) => a - b);
    $("ablation-k").innerHTML = ks.map((x) => "<option>" + x + "</option>").join("");
    if (ks.includes(Number(k))) $("ablation-k").value = k;
  }

  function applyAblation() {
    const mode = $("ablation-mode").value, label = $("ablation-label").value, k = $("ablation-k").value;
    const entry = META.ablation[mode].entries[label][k], changed = new Map();
    for (let r = 0, t = 0; r < entry.count; r++) {
      t += D.ablTokens[entry.offset + r];
      changed.set(t, D.ablTo[entry.offset + r]);
    }
    S.ablation = { mode, label, k: Number(k), changed };
    const total = new Array(K).fill(0), before = new Array(K).fill(0), after = new Array(K).fill(0);
    for (let t = 0; t < N; t++) {
      const g = D.gold[t], p = changed.has(t) ? changed.get(t) : D.pred[t];
      total[g]++;
      if (D.pred[t] === g) before[g]++;
      if (p === g) after[g]++;
    }
    let broke = 0, fixed = 0;
    for (const [t, p] of changed) { if (D.pred[t] === D.gold[t]) broke++; else if (p === D.gold[t]) fixed++; }
    const li = LABELS.indexOf(label), drop = total[li] ? (before[li] - after[li]) / total[li] : NaN;
    const how = mode === "output" ? "zeroed where they enter the linear layer" : "clamped to zero inside the LSTM at every step";
    const rows = LABELS.map((l, i) => total[i] ? "<tr" + (i === li ? ' style="font-weight:bold"' : "") + "><td>" + esc(l) +
      "</td><td>" + total[i] + "</td><td>" + (before[i] / total[i]).toFixed(4) + "</td><td>" + (after[i] / total[i]).toFixed(4) +
      "</td><td>" + (100 * (before[i] - after[i]) / total[i]).toFixed(2) + "</td></tr>" : "").join("");
    $("ablation-summary").innerHTML = "<p>Top-" + k + " neurons of <b>" + esc(label) + "</b> by " +
      esc(META.measure_titles[META.ranking]) + ", " + how + " (" + mode + " mode): " +
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
    $("filter-ablated").disabled = false;
    computeMatches();
    renderSentences();
  }

  function clearAblation() {
    S.ablation = null;
    $("filter-ablated").checked = false;
    $("filter-ablated").disabled = true;
    $("ablation-summary").innerHTML = '<p class="hint">No ablation: the predictions are the model\'s own.</p>';
    computeMatches();
    renderSentences();
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

  function selectNeuron(j) { S.neuron = ((j % H) + H) % H; renderNeuron(); }

  function options(select, items) { select.innerHTML = items.map(([v, text]) => '<option value="' + esc(v) + '">' + esc(text) + "</option>").join(""); }

  function setUp() {
    const a = META.about;
    $("title").textContent = "Neuron explorer: " + a.run + ", seed " + a.seed;
    $("about").textContent = "Model " + a.model + ". Split: " + a.split + " (" + D.lengths.length.toLocaleString("en") +
      " sentences, " + N.toLocaleString("en") + " tokens), " + a.data + ". Seed " + a.seed +
      (a.dev_token_acc !== null && a.dev_token_acc !== undefined ? ", dev token accuracy " + a.dev_token_acc.toFixed(4) : "") +
      ". Predicted label: the " + a.prediction + ".";
    $("footer").textContent = "Command: " + a.command + ". Written by lstm_numpy; h is stored to 8 bits and c to 7 bits, " +
      "each with a scale per neuron, the gates to 4 bits (hover: every value with its rounding bound). Decoded in " +
      timings.decode_ms.toFixed(0) + " ms.";
    options($("neuron"), [...Array(H).keys()].map((j) => { const t = topLabel(j); return [j, neuronName(j) + (t >= 0 ? ", top " + LABELS[t] : "")]; }));
    const labelOptions = LABELS.map((l, i) => [i, l]);
    options($("contribution-label"), labelOptions);
    options($("rank-label"), labelOptions);
    $("filter-label").innerHTML += LABELS.map((l, i) => '<option value="' + i + '">' + esc(l) + "</option>").join("");
    options($("ranking"), Object.keys(META.measures).map((name) => [name, META.measure_titles[name]]));
    $("ranking").value = S.ranking;
    const modes = Object.keys(META.ablation);
    options($("ablation-mode"), modes.map((m) => [m, m]));
    $("ablation-panel").style.display = modes.length ? "" : "none";
    if (modes.length) renderAblationChoices();
    // start on the neuron with the largest Xin sensitivity, and on the first label that is not O
    let best = [0, 0];
    META.measures.xin.forEach((row, i) => row.forEach((v, j) => { if (v !== null && v > META.measures.xin[best[0]][best[1]]) best = [i, j]; }));
    S.neuron = best[1];
    S.contributionLabel = best[0];
    S.rankLabel = Math.max(0, LABELS.findIndex((l) => l !== "O"));
    $("contribution-label").value = String(S.contributionLabel);
    $("rank-label").value = String(S.rankLabel);

    $("neuron").addEventListener("change", act("neuron", (e) => selectNeuron(Number(e.target.value))));
    $("neuron-prev").addEventListener("click", act("neuron", () => selectNeuron(S.neuron - 1)));
    $("neuron-next").addEventListener("click", act("neuron", () => selectNeuron(S.neuron + 1)));
    $("colour").addEventListener("change", act("colour", (e) => { S.colour = e.target.value; whenComplete(renderNeuron); }));
    $("contribution-label").addEventListener("change", act("colour", (e) => { S.contributionLabel = Number(e.target.value); renderNeuron(); }));
    $("rank-label").addEventListener("change", act("rank", (e) => { S.rankLabel = Number(e.target.value); renderRanking(); }));
    $("ranking").addEventListener("change", act("rank", (e) => { S.ranking = e.target.value; renderRanking(); }));
    $("rank-more").addEventListener("click", act("rank", () => { S.rankAll = !S.rankAll; renderRanking(); }));
    $("rank-table").addEventListener("click", act("neuron", (e) => { const tr = e.target.closest("tr[data-neuron]"); if (tr) selectNeuron(Number(tr.dataset.neuron)); }));
    for (const id of ["filter-errors", "filter-label", "filter-ablated"]) $(id).addEventListener("change", act("filter", () => { computeMatches(); renderSentences(); }));
    $("filter-word").addEventListener("input", act("filter", () => { computeMatches(); renderSentences(); }));
    $("page-prev").addEventListener("click", act("page", () => { S.page--; renderSentences(); }));
    $("page-next").addEventListener("click", act("page", () => { S.page++; renderSentences(); }));
    $("ablation-mode").addEventListener("change", act("ablation", renderAblationChoices));
    $("ablation-label").addEventListener("change", act("ablation", renderAblationChoices));
    $("ablation-apply").addEventListener("click", act("ablation", () => whenComplete(applyAblation)));
    $("ablation-clear").addEventListener("click", act("ablation", clearAblation));
    const neuronLinks = (e) => { const a = e.target.closest("a[data-neuron]"); if (a) { e.preventDefault(); selectNeuron(Number(a.dataset.neuron)); } };
    $("ablation-summary").addEventListener("click", act("neuron", neuronLinks));
    $("token-info").addEventListener("click", act("neuron", neuronLinks));
    const tip = $("tooltip");
    $("sentences").addEventListener("mouseover", (e) => {
      const el = e.target.closest(".tok");
      if (!el) return;
      tip.innerHTML = tooltipHtml(Number(el.dataset.t));
      tip.hidden = false;
      const r = el.getBoundingClientRect();
      tip.style.left = Math.min(window.innerWidth - 370, Math.max(4, r.left)) + "px";
      tip.style.top = (r.bottom + 6 + 220 > window.innerHeight ? Math.max(4, r.top - 226) : r.bottom + 6) + "px";
    });
    $("sentences").addEventListener("mouseout", (e) => { if (e.target.closest(".tok")) tip.hidden = true; });
    $("sentences").addEventListener("click", act("token", (e) => {
      const el = e.target.closest(".tok");
      if (!el) return;
      for (const x of $("sentences").querySelectorAll(".tok.selected")) x.classList.remove("selected");
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
      rest = decodeRest(decodeTo);
      $("status").textContent = "Ready. Click a neuron in \"Neurons by label\", a word for the neurons behind its " +
        "prediction, or ablate a label's top neurons.";
      document.body.dataset.ready = "1";
      await rest;
    } catch (err) {
      $("status").textContent = "error: " + err.message;
      $("status").classList.add("error");
      console.error(err);
      throw err;
    }
  }
  main();
})();
