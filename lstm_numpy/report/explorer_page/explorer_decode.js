/* The explorer's decoding, written for this project: the bytes in #explorer-data (laid out as
 * report/explorer_encoding.py documents) -> typed arrays. ASCII only. explorer.js, inlined after
 * this file in the same <script>, calls explorerDecoder(meta, data, timings) once; this fills `data`.
 * Activity is neuron-major: the value of neuron j at token t is at j * nTokens + t. */
"use strict";
function explorerDecoder(meta, data, timings) {
  const nTokens = meta.n_tokens, quant = meta.quant;
  const byId = (id) => document.getElementById(id);

  function byteDecoder() {
    // 7 bits a character, most significant first; ESC (1) + symbol + 0x40 for NUL, ESC, CR and "<".
    // decodeTo(m) decodes the first m bytes (sections are laid out in the order the page needs them).
    const text = new TextEncoder().encode(byId("explorer-data").textContent);   // ASCII: one byte a character
    const out = new Uint8Array(Math.floor(text.length * 7 / 8));
    const cursor = { n: 0, acc: 0, bits: 0, k: 0 };   // bytes out, bit accumulator, its bits, characters read
    return function decodeTo(m) {
      let { n, acc, bits, k } = cursor;            // locals in the loop: several times faster than closure slots
      const length = text.length;
      for (; n < m && k < length; k++) {
        let s = text[k];
        if (s === 1) s = text[++k] - 0x40;
        if (s > 127 || s < 0) throw new Error("the page's data was altered at character " + k);
        acc = ((acc << 7) | s) & 0x3FFF;
        bits += 7;
        if (bits >= 8) { bits -= 8; out[n++] = (acc >> bits) & 255; }
      }
      Object.assign(cursor, { n, acc, bits, k });
      return out;
    };
  }

  function sectionsEnd(names) { return Math.max(...names.map((name) => meta.sections[name][0] + meta.sections[name][1])); }

  async function section(bytes, name) {
    const [offset, length, raw] = meta.sections[name];
    const stream = new Blob([bytes.subarray(offset, offset + length)]).stream()
      .pipeThrough(new DecompressionStream("gzip"));
    const out = new Uint8Array(await new Response(stream).arrayBuffer());
    if (out.length !== raw) throw new Error("section " + name + ": " + out.length + " bytes, expected " + raw);
    return out;
  }

  function outputGate(j) {       // neuron j's output-gate codes, decoded when first needed
    // the prediction of report/explorer_encoding.predict_output_gate, operation for operation
    data.outputGateCodes = data.outputGateCodes || [];
    if (data.outputGateCodes[j]) return data.outputGateCodes[j];
    const levels = quant.o.levels, clip = quant.o.tanh_clip, small = quant.o.small_tanh, out = new Uint8Array(nTokens);
    const sh = quant.h.scale[j], sc = quant.c.scale[j], h = data.h, c = data.c, residual = data.outputGateResidual;
    for (let t = 0, k = j * nTokens; t < nTokens; t++, k++) {
      const x = c[k] * sc;
      let th;
      if (x > clip) th = 1;
      else if (x < -clip) th = -1;
      else { const x2 = x * x; th = x * (27 + x2) / (27 + 9 * x2); }
      const ratio = Math.abs(th) < small ? 0.5 : (h[k] * sh) / th;
      let code = Math.floor(ratio * levels + 0.5);
      code = code < 0 ? 0 : (code > levels ? levels : code);
      out[t] = code + residual[k];
    }
    return (data.outputGateCodes[j] = out);
  }

  // The one reader of the 4-bit gates (report/explorer_encoding.py). Like h and c they are neuron-major
  // (Hout, n) arrays: neuron j at token t is element k = j * nTokens + t. i and f hold two 4-bit codes a
  // byte, low nibble first: element k is in byte k >> 1, in its low nibble if k is even, its high nibble
  // if odd. o is stored as a residual from the code h / tanh(c) predicts (one signed byte an element),
  // rebuilt by outputGate. Every gate's value is code / 15 (quant[gate].levels).
  function gateCode(gate, j, t) {
    if (gate === "o") return outputGate(j)[t];
    const k = j * nTokens + t;
    return (data[gate][k >> 1] >> ((k & 1) << 2)) & 0x0F;
  }

  async function sections(bytes, names) {
    const raw = {};
    await Promise.all(names.map(async (name) => { raw[name] = await section(bytes, name); }));
    return raw;
  }

  const LabelArray = meta.label_dtype === "uint8" ? Uint8Array : Uint16Array;
  const labels = (u8) => new LabelArray(u8.buffer, 0, u8.length / LabelArray.BYTES_PER_ELEMENT);

  // "column": another column of the data (a probed property), stored right after the labels when the run has one
  const FIRST_SECTIONS = ["words", "lengths", "gold", "pred"].concat(meta.column ? ["column"] : [], ["h"]);
  // "patching": the restored fractions of the minimal pairs, (S, T, Hout) int8 codes a pair, when the run has pairs
  const REST_SECTIONS = ["c", "i", "f", "o", "ablation_tokens", "ablation_to"].concat(meta.pairs ? ["patching"] : []);

  async function decode() {     // what the first view needs: the words, labels and h
    const t0 = performance.now();
    const decodeTo = byteDecoder(), bytes = decodeTo(sectionsEnd(FIRST_SECTIONS));
    const t1 = performance.now();
    const raw = await sections(bytes, FIRST_SECTIONS);
    const t2 = performance.now();
    data.words = nTokens ? new TextDecoder("utf-8").decode(raw.words).split("\n") : [];
    data.lengths = new Uint32Array(raw.lengths.buffer, 0, raw.lengths.length / 4);
    data.starts = new Uint32Array(data.lengths.length);
    data.sentenceOf = new Uint32Array(nTokens);
    for (let s = 0, a = 0; s < data.lengths.length; a += data.lengths[s], s++) {
      data.starts[s] = a;
      data.sentenceOf.fill(s, a, a + data.lengths[s]);
    }
    data.gold = labels(raw.gold);
    data.pred = labels(raw.pred);
    if (meta.column) {
      const ColumnArray = meta.column.dtype === "uint8" ? Uint8Array : Uint16Array;
      data.column = new ColumnArray(raw.column.buffer, 0, raw.column.length / ColumnArray.BYTES_PER_ELEMENT);
    }
    data.h = new Int8Array(raw.h.buffer, 0, raw.h.length);
    if (data.words.length !== nTokens) throw new Error(data.words.length + " words for " + nTokens + " tokens");
    Object.assign(timings, { bytes_ms: t1 - t0, gunzip_ms: t2 - t1, decode_ms: performance.now() - t0 });
    return decodeTo;
  }

  async function decodeRest(decodeTo) {  // then, while the page is already usable: c, the gates, the ablations, the pairs
    const t0 = performance.now();
    const raw = await sections(decodeTo(sectionsEnd(REST_SECTIONS)), REST_SECTIONS);
    data.c = new Int8Array(raw.c.buffer, 0, raw.c.length);
    data.i = raw.i;                             // two 4-bit codes a byte: read them with gateCode
    data.f = raw.f;
    data.outputGateResidual = new Int8Array(raw.o.buffer, 0, raw.o.length);
    data.ablationTokens = new Uint32Array(raw.ablation_tokens.buffer, 0, raw.ablation_tokens.length / 4);
    data.ablationTo = labels(raw.ablation_to);
    if (meta.pairs) data.patching = new Int8Array(raw.patching.buffer, 0, raw.patching.length);
    data.complete = true;
    timings.rest_ms = performance.now() - t0;
    timings.complete_ms = performance.now();
    document.body.dataset.complete = "1";
  }

  return { decode, decodeRest, gateCode };
}
