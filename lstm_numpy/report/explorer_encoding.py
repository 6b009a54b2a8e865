"""How explorer.html carries its numbers: quantised, gzip-compressed sections embedded as bytes.

Dimension legend: n tokens, Hout neurons.

Quantities (every array is stored neuron-major, (Hout, n) flattened, so one
neuron's values over the split are contiguous)::

    h   8 bits, per-neuron scale s_h[j] = max_t |h[t, j]| / 127, value = q * s_h[j]  (within s_h[j] / 2)
    c   7 bits, per-neuron scale s_c[j] = max_t |c[t, j]| / 63, likewise               (within s_c[j] / 2)
    i   4 bits, value = q / 15, two values a byte (low nibble first)                  (within 1/30)
    f   4 bits, likewise
    o   4 bits like i and f, but stored as the residual r = q_o - predict(h, c),
        predict = the 4-bit code of h / tanh(c) (h = o tanh(c) exactly in the
        model), so the stream is mostly zeros and compresses ~4x.  The
        prediction uses only IEEE +, -, *, / and floor in float64 (tanh is the
        rational x (27 + x^2) / (27 + 9 x^2), clipped to [-1, 1]: only its
        determinism matters, the residual makes it exact), so the page's
        JavaScript reproduces Python's prediction bit for bit and decodes the
        same code q_o.

Restored fractions of activation patching (one minimal pair's (T, Hout) matrix a site, its
rows the sentence positions) are 8 bits with one scale a matrix::

    patching   s = max |x| / 127 over the matrix, value = q * s (within s / 2); q = -128: NaN

Each section (words, labels, quantities, ablation lists, patching) is gzip-compressed on
its own (mtime 0, so the same data gives the same bytes), and the browser's
DecompressionStream("gzip") opens it.  The sections are concatenated and
embedded as ASCII text, 7 bits a character (the bit stream cut into 7-bit
symbols, most significant bit first); the four symbols HTML would alter or
read as markup inside a <script> element (NUL, CR, "<", and the escape
symbol itself) are written as ESC, symbol + 0x40.  That costs ~18% where
base64 costs 33%, and a page of ASCII parses about twice as fast as one of
Latin-1 bytes (measured in Chromium).
"""
from __future__ import annotations

import gzip
import json

import numpy as np

GATE_LEVELS = 15          # 4-bit gates: codes 0..15
H_LEVELS = 127            # 8-bit h: codes -127..127
C_LEVELS = 63             # 7-bit c: codes -63..63 (the page fits 8 MB for CoNLL-2003 dev this way)
PATCH_LEVELS = 127        # 8-bit restored fractions: codes -127..127
PATCH_NAN = -128          # the code of a fraction that is not defined (NaN)
ESCAPE = 0x01
ESCAPED = (0x00, 0x01, 0x0D, 0x3C)      # NUL, the escape byte, CR, "<"
TANH_CLIP = 3.0
SMALL_TANH = 1.0 / 16     # below this |tanh(c)| the prediction of o is the middle code


# ------------------------------------------------------------ quantisers


def round_half_up(x):
    """floor(x + 0.5), the rounding JavaScript's Math.floor(x + 0.5) gives."""
    return np.floor(np.asarray(x, dtype=np.float64) + 0.5)


def symmetric_scale(x, levels):
    """Per-neuron scale (Hout,) float64 of x (n, Hout): max |x| / levels, 1 for an all-zero neuron."""
    peak = np.abs(np.asarray(x, dtype=np.float64)).max(axis=0) if len(x) else np.zeros(np.shape(x)[1])
    return np.where(peak > 0, peak / levels, 1.0)


def quantise_symmetric(x, scale, levels):
    """x (n, Hout) -> codes (Hout, n) int8 in -levels..levels, value = code * scale[j]."""
    codes = round_half_up(np.asarray(x, dtype=np.float64) / scale)
    return np.clip(codes, -levels, levels).astype(np.int8).T.copy()


def quantise_gate(x):
    """x (n, Hout) in [0, 1] -> codes (Hout, n) uint8 in 0..15, value = code / 15."""
    codes = round_half_up(np.asarray(x, dtype=np.float64) * GATE_LEVELS)
    return np.clip(codes, 0, GATE_LEVELS).astype(np.uint8).T.copy()


def quantise_matrix(x):
    """x (...) float64, NaN where undefined -> (codes (...) int8, scale): value = code * scale with one
    scale max |x| / PATCH_LEVELS (1 where no value is finite and non-zero), PATCH_NAN where x is not finite."""
    x = np.asarray(x, dtype=np.float64)
    finite = np.isfinite(x)
    peak = np.abs(x[finite]).max(initial=0.0)
    scale = peak / PATCH_LEVELS if peak > 0 else 1.0
    codes = np.clip(round_half_up(np.where(finite, x, 0.0) / scale), -PATCH_LEVELS, PATCH_LEVELS)
    return np.where(finite, codes, PATCH_NAN).astype(np.int8), float(scale)


def tanh_rational(x):
    """x (...) float64 -> a tanh-like value in [-1, 1] from +, -, *, / only (see the module docstring)."""
    x = np.asarray(x, dtype=np.float64)
    x2 = x * x
    t = x * (27.0 + x2) / (27.0 + 9.0 * x2)
    return np.where(x > TANH_CLIP, 1.0, np.where(x < -TANH_CLIP, -1.0, t))


def predict_output_gate(h_codes, h_scale, c_codes, c_scale):
    """The 4-bit code (Hout, n) uint8 that h / tanh(c) suggests for the output gate, from the decoded
    h and c (codes (Hout, n), scales (Hout,)); the page's JavaScript computes the same."""
    h = h_codes.astype(np.float64) * h_scale[:, None]
    t = tanh_rational(c_codes.astype(np.float64) * c_scale[:, None])
    small = np.abs(t) < SMALL_TANH
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(small, 0.5, h / np.where(small, 1.0, t))
    return np.clip(round_half_up(ratio * GATE_LEVELS), 0, GATE_LEVELS).astype(np.uint8)


def pack_nibbles(codes):
    """codes (m,) uint8 in 0..15 -> (ceil(m / 2),) uint8, value 2k in the low nibble of byte k."""
    codes = np.asarray(codes, dtype=np.uint8).ravel()
    if codes.size % 2:
        codes = np.append(codes, np.uint8(0))
    return (codes[0::2] | (codes[1::2] << 4)).astype(np.uint8)


def unpack_nibbles(packed, m):
    """The inverse of :func:`pack_nibbles`: (m,) uint8."""
    packed = np.asarray(packed, dtype=np.uint8)
    out = np.empty(packed.size * 2, dtype=np.uint8)
    out[0::2], out[1::2] = packed & 0x0F, packed >> 4
    return out[:m]


# ------------------------------------------------------------ sections and bytes


def build_sections(arrays):
    """{name: bytes or ndarray} -> (blob bytes, {name: [offset, length, raw_length]}), each gzip'd."""
    blob, index, offset = [], {}, 0
    for name, value in arrays.items():
        raw = value if isinstance(value, bytes) else \
            np.ascontiguousarray(value).astype(value.dtype.newbyteorder("<")).tobytes()     # little-endian, as JS reads
        packed = gzip.compress(raw, compresslevel=9, mtime=0)
        index[name] = [offset, len(packed), len(raw)]
        blob.append(packed)
        offset += len(packed)
    return b"".join(blob), index


def read_section(blob, index, name):
    """The raw bytes of one section."""
    offset, length, raw_length = index[name]
    raw = gzip.decompress(blob[offset:offset + length])
    if len(raw) != raw_length:
        raise ValueError(f"section {name}: {len(raw)} bytes, expected {raw_length}")
    return raw


def to_ascii(data):
    """Bytes -> ASCII text (as bytes) safe inside an HTML <script> element (see the module docstring)."""
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
    bits = np.concatenate([bits, np.zeros(-bits.size % 7, dtype=np.uint8)])
    symbols = (bits.reshape(-1, 7) @ (1 << np.arange(6, -1, -1))).astype(np.uint8)
    special = np.isin(symbols, ESCAPED)
    out = np.empty(symbols.size + int(special.sum()), dtype=np.uint8)
    where = np.arange(symbols.size) + np.concatenate([[0], np.cumsum(special)[:-1]])   # slot of each symbol
    out[where] = np.where(special, ESCAPE, symbols)
    out[where[special] + 1] = symbols[special] + 0x40
    return out.tobytes()


def from_ascii(text):
    """The inverse of :func:`to_ascii`."""
    chars = np.frombuffer(text, dtype=np.uint8)
    escapes = np.flatnonzero(chars == ESCAPE)
    # ESCAPE + 0x40 is never ESCAPE, so every escape character starts a pair
    symbols = chars.copy()
    symbols[escapes + 1] -= 0x40
    keep = np.ones(chars.size, dtype=bool)
    keep[escapes] = False
    bits = np.unpackbits(symbols[keep][:, None], axis=1)[:, 1:].ravel()     # 7 bits a symbol
    return np.packbits(bits[:bits.size // 8 * 8]).tobytes()


def json_for_script(value):
    """JSON text that is ASCII and cannot close its <script> element; NaN -> null."""
    def clean(v):
        if isinstance(v, float) and not np.isfinite(v):
            return None
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if isinstance(v, np.ndarray):
            return clean(v.tolist())
        if isinstance(v, np.generic):
            return clean(v.item())
        return v
    return json.dumps(clean(value), ensure_ascii=True, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")


# ------------------------------------------------------------ one split's activity


def encode_activity(activity):
    """Activity (analysis.activity: (n, Hout) arrays) -> ({section: ndarray}, quantisation metadata).

    The metadata says, per quantity, how to decode it and within what its values are rounded
    ("within": the largest |decoded - true| the rounding allows, per neuron or one number)."""
    h_scale, c_scale = symmetric_scale(activity.hidden, H_LEVELS), symmetric_scale(activity.cell, C_LEVELS)
    h_codes = quantise_symmetric(activity.hidden, h_scale, H_LEVELS)
    c_codes = quantise_symmetric(activity.cell, c_scale, C_LEVELS)
    o_codes = quantise_gate(activity.output_gate)
    residual = o_codes.astype(np.int16) - predict_output_gate(h_codes, h_scale, c_codes, c_scale)
    arrays = {"h": h_codes.ravel(), "c": c_codes.ravel(),
              "i": pack_nibbles(quantise_gate(activity.input_gate)),
              "f": pack_nibbles(quantise_gate(activity.forget_gate)),
              "o": residual.astype(np.int8).ravel()}
    gate = {"levels": GATE_LEVELS, "within": 0.5 / GATE_LEVELS}
    quant = {"h": {"kind": "int8", "levels": H_LEVELS, "scale": h_scale.tolist(), "within": (h_scale / 2).tolist()},
             "c": {"kind": "int8", "levels": C_LEVELS, "scale": c_scale.tolist(), "within": (c_scale / 2).tolist()},
             "i": {"kind": "nibbles", **gate}, "f": {"kind": "nibbles", **gate},
             "o": {"kind": "residual", **gate, "tanh_clip": TANH_CLIP, "small_tanh": SMALL_TANH}}
    return arrays, quant


def decode_activity(section, quant, n, Hout):
    """The values the page shows: {"h", "c", "i", "f", "o": (n, Hout) float64}.

    section: name -> raw bytes (e.g. ``lambda name: read_section(blob, index, name)``)."""
    codes = {name: np.frombuffer(section(name), dtype=np.int8).reshape(Hout, n) for name in ("h", "c")}
    scales = {name: np.asarray(quant[name]["scale"], dtype=np.float64) for name in ("h", "c")}
    out = {name: (codes[name].astype(np.float64) * scales[name][:, None]).T for name in ("h", "c")}
    for name in ("i", "f"):
        packed = np.frombuffer(section(name), dtype=np.uint8)
        out[name] = unpack_nibbles(packed, n * Hout).reshape(Hout, n).T / GATE_LEVELS
    residual = np.frombuffer(section("o"), dtype=np.int8).reshape(Hout, n)
    predicted = predict_output_gate(codes["h"], scales["h"], codes["c"], scales["c"])
    out["o"] = (predicted.astype(np.int16) + residual).T / GATE_LEVELS
    return out


# ------------------------------------------------------------ minimal pairs


def decode_patching(raw, pairs_meta, Hout):
    """The restored fractions the page shows: one (S, T, Hout) float64 array (NaN where undefined) per
    pair of the page's "pairs" metadata, from the raw bytes of its "patching" section."""
    codes = np.frombuffer(raw, dtype=np.int8)
    out = []
    for entry in pairs_meta["pairs"]:
        S, T = len(pairs_meta["sites"]), len(entry["clean"])
        block = codes[entry["offset"]:entry["offset"] + S * T * Hout].reshape(S, T, Hout).astype(np.float64)
        values = block * np.asarray(entry["scale"], dtype=np.float64)[:, None, None]
        out.append(np.where(block == PATCH_NAN, np.nan, values))
    return out
