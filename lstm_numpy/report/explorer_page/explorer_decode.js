/* The explorer's decoding, written for this project: the bytes in #explorer-data (laid out as
 * report/explorer_encoding.py documents) -> typed arrays. ASCII only. explorer.js, inlined after
 * this file in the same <script>, calls explorerDecoder(META, D, timings) once.
 * Activity is neuron-major: the value of neuron j at token t is at j * N + t. */
"use strict";
function explorerDecoder(META, D, timings) {
  const N = META.n_tokens, H = META.n_neurons, Q = META.quant;
  const $ = (id) => document.getElementById(id);

  function byteDecoder() {
    // 7 bits a character, most significant first; ESC (1) + symbol + 0x40 for NUL, ESC, CR and "<".
    // decodeTo(m) decodes the first m bytes (sections are laid out in the order the page needs them).
    const text = new TextEncoder().encode($("explorer-data").textContent);   // ASCII: one byte a character
    const out = new Uint8Array(Math.floor(text.length * 7 / 8));
    const state = { n: 0, acc: 0, bits: 0, k: 0 };
    return function decodeTo(m) {
      let { n, acc, bits, k } = state;            // locals in the loop: several times faster than closure slots
      const length = text.length;
      for (; n < m && k < length; k++) {
        let s = text[k];
        if (s === 1) s = text[++k] - 0x40;
        if (s > 127 || s < 0) throw new Error("the page's data was altered at character " + k);
        acc = ((acc << 7) | s) & 0x3FFF;
        bits += 7;
        if (bits >= 8) { bits -= 8; out[n++] = (acc >> bits) & 255; }
      }
      Object.assign(state, { n, acc, bits, k });
      return out;
    };
  }

  function sectionsEnd(names) { return Math.max(...names.map((name) => META.sections[name][0] + META.sections[name][1])); }

  async function section(bytes, name) {
    const [offset, length, raw] = META.sections[name];
    const stream = new Blob([bytes.subarray(offset, offset + length)]).stream()
      .pipeThrough(new DecompressionStream("gzip"));
    const out = new Uint8Array(await new Response(stream).arrayBuffer());
    if (out.length !== raw) throw new Error("section " + name + ": " + out.length + " bytes, expected " + raw);
    return out;
  }

  function outputGate(j) {       // neuron j's output-gate codes, decoded when first needed
    // the prediction of report/explorer_encoding.predict_output_gate, operation for operation
    D.oCodes = D.oCodes || [];
    if (D.oCodes[j]) return D.oCodes[j];
    const L = Q.o.levels, clip = Q.o.tanh_clip, small = Q.o.small_tanh, out = new Uint8Array(N);
    const sh = Q.h.scale[j], sc = Q.c.scale[j], h = D.h, c = D.c, residual = D.oResidual;
    for (let t = 0, k = j * N; t < N; t++, k++) {
      const x = c[k] * sc;
      let th;
      if (x > clip) th = 1;
      else if (x < -clip) th = -1;
      else { const x2 = x * x; th = x * (27 + x2) / (27 + 9 * x2); }
      const ratio = Math.abs(th) < small ? 0.5 : (h[k] * sh) / th;
      let code = Math.floor(ratio * L + 0.5);
      code = code < 0 ? 0 : (code > L ? L : code);
      out[t] = code + residual[k];
    }
    return (D.oCodes[j] = out);
  }

  async function sections(bytes, names) {
    const raw = {};
    await Promise.all(names.map(async (name) => { raw[name] = await section(bytes, name); }));
    return raw;
  }

  const Labels = META.label_dtype === "uint8" ? Uint8Array : Uint16Array;
  const labels = (u8) => new Labels(u8.buffer, 0, u8.length / Labels.BYTES_PER_ELEMENT);

  const FIRST = ["words", "lengths", "gold", "pred", "h"], REST = ["c", "i", "f", "o", "ablation_tokens", "ablation_to"];

  async function decode() {     // what the first view needs: the words, labels and h
    const t0 = performance.now();
    const decodeTo = byteDecoder(), bytes = decodeTo(sectionsEnd(FIRST));
    const t1 = performance.now();
    const raw = await sections(bytes, FIRST);
    const t2 = performance.now();
    D.words = N ? new TextDecoder("utf-8").decode(raw.words).split("\n") : [];
    D.lengths = new Uint32Array(raw.lengths.buffer, 0, raw.lengths.length / 4);
    D.starts = new Uint32Array(D.lengths.length);
    D.sentenceOf = new Uint32Array(N);
    for (let s = 0, a = 0; s < D.lengths.length; a += D.lengths[s], s++) {
      D.starts[s] = a;
      D.sentenceOf.fill(s, a, a + D.lengths[s]);
    }
    D.gold = labels(raw.gold);
    D.pred = labels(raw.pred);
    D.h = new Int8Array(raw.h.buffer, 0, raw.h.length);
    if (D.words.length !== N) throw new Error(D.words.length + " words for " + N + " tokens");
    Object.assign(timings, { bytes_ms: t1 - t0, gunzip_ms: t2 - t1, decode_ms: performance.now() - t0 });
    return decodeTo;
  }

  async function decodeRest(decodeTo) {  // then, while the page is already usable: c, the gates, the ablations
    const t0 = performance.now();
    const raw = await sections(decodeTo(sectionsEnd(REST)), REST);
    D.c = new Int8Array(raw.c.buffer, 0, raw.c.length);
    D.i = raw.i;                                // two 4-bit codes a byte, low nibble first
    D.f = raw.f;
    D.oResidual = new Int8Array(raw.o.buffer, 0, raw.o.length);
    D.ablTokens = new Uint32Array(raw.ablation_tokens.buffer, 0, raw.ablation_tokens.length / 4);
    D.ablTo = labels(raw.ablation_to);
    D.complete = true;
    timings.rest_ms = performance.now() - t0;
    timings.complete_ms = performance.now();
    document.body.dataset.complete = "1";
  }

  return { decode, decodeRest, outputGate };
}
