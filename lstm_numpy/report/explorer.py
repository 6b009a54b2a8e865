"""explorer.html: one self-contained page to look at a tagger's neurons token by token.

    python -m lstm_numpy.report.explorer RUN_DIR [--seed N] [--out FILE] [--data-dir DIR]

Every run writes RUN_DIR/explorer.html next to report.md (:func:`write_run_explorer`);
the command writes it for an existing run directory (report.explorer_run reads
it back).  The page opens from file:// with no server, network or build step:
its HTML, CSS and JavaScript (report/explorer_page/, written for this project)
and its data are one file.  It shows one model (a seed) on the dev split:

* the sentences, gold and (argmax) predicted label under every token, errors marked;
* one neuron's h_j, contribution W[i, j] h_j to a label i, cell state c_j or
  input / forget / output gate on every token, with the rounded numbers on hover;
* a label's neurons in the order of any ranking the run computed, with tuning curves;
* the tokens whose prediction changes when a label's top-k neurons are ablated
  (output mode, and recurrent mode where the run ran it);
* where the run patched minimal pairs (analysis.patching), one pair at a time: its two
  sentences and, for h and for c, the fraction of the logit difference each (position,
  neuron) restores when copied from the clean run into the corrupted one.

Data layout and encoding: report.explorer_encoding.  Dimension legend: n tokens,
S sentences, Hout neurons, K labels.
"""
from __future__ import annotations

import argparse
import json
import sys
from importlib import resources
from pathlib import Path

import numpy as np

from ..analysis.explorer_data import measure_for_explorer
from ..atomic import atomic_write_bytes
from ..errors import LSTMNumpyError
from .explorer_encoding import (PATCH_LEVELS, PATCH_NAN, build_sections, encode_activity, from_ascii, json_for_script,
                                 quantise_matrix, read_section, to_ascii)
from .explorer_run import load_run

FORMAT = "lstm_numpy.explorer"
VERSION = 1
PAGE_FILES = ("explorer.html", "explorer.css", "explorer_decode.js", "explorer.js")
MAX_PAIRS = 40          # the minimal pairs a page shows: the first this many the model reads as intended
META_TAG = b'<script type="application/json" id="explorer-meta">'
DATA_TAG = b'<script type="application/octet-stream" id="explorer-data">'
MEASURE_TITLES = {      # what the page calls the rankings of analysis.measures; a new one shows under its own name
    "xin": "Xin sensitivity",
    "competitor": "competitor-aware sensitivity",
    "grad_x_act": "gradient x activation",
    "measured": "measured (accuracy drop, this neuron alone ablated)",
    "weight_spread": "|W| x std(h)",
    "probe": "probe weights |W| (a linear probe of the gold labels, as NeuroX)",
}


def page_template():
    """{file name: text} of the page's HTML, CSS and JavaScript (package data)."""
    folder = resources.files("lstm_numpy.report") / "explorer_page"
    return {name: (folder / name).read_text(encoding="ascii") for name in PAGE_FILES}


def _label_dtype(K):
    return np.uint8 if K <= 0xFF else np.uint16


def ablation_sections(changes, sweep, label_names, dtype):
    """The ablated tokens as two sections (token ids delta-coded, new labels) and their index.

    changes: analysis.token_ablation.top_k_changes; sweep: the model's Sweep (the run's drops).
    Returns ({"ablation_tokens": (M,) uint32, "ablation_to": (M,) labels}, {mode: {"ks", "entries"}})."""
    tokens, to, meta, offset = [], [], {}, 0
    names = list(label_names)
    for mode, by_label in changes.items():
        ks = sorted({k for by_k in by_label.values() for k in by_k})
        swept = sweep.modes[mode]
        entries = {}
        for label, by_k in by_label.items():
            for k, change in by_k.items():
                changed = change.changed
                tokens.append(np.diff(changed, prepend=0).astype(np.uint32))    # first id, then gaps
                to.append(change.to.astype(dtype))
                entries.setdefault(label, {})[str(k)] = {
                    "neurons": change.neurons.tolist(), "offset": offset, "count": int(changed.size),
                    "run_drop": float(swept.top[names.index(label), swept.at(k)])}
                offset += int(changed.size)
        meta[mode] = {"ks": ks, "entries": entries}
    concat = lambda parts, dt: np.concatenate(parts) if parts else np.zeros(0, dtype=dt)  # noqa: E731
    return {"ablation_tokens": concat(tokens, np.uint32), "ablation_to": concat(to, dtype)}, meta


def pair_sections(pairs, patching, label_names, limit=MAX_PAIRS):
    """The minimal pairs the page shows (the first ``limit`` the model reads as intended) as one
    section and its index, or (None, None) where no pair is used.

    pairs: [MinimalPair] (pipeline.EncodedPairs.pairs); patching: their PatchingResult, per_pair
    included.  Returns ({"patching": (m,) int8}, {"sites", "levels", "nan_code", "n_pairs",
    "n_used", "source", "pairs": [one dict a pair]}): a pair's restored fractions are (S, T, Hout)
    codes from its "offset", T its sentence's length, each site's (T, Hout) with its own "scale"
    (explorer_encoding.quantise_matrix: the values are within scale / 2)."""
    shown = np.flatnonzero(patching.used)[:limit]
    if shown.size == 0:
        return None, None
    codes, entries, offset = [], [], 0
    for p in shown:
        pair = pairs[p]
        entry = {"pair": int(p), "clean": list(pair.clean), "corrupted": list(pair.corrupted),
                 "position": int(patching.positions[p]), "clean_label": label_names[patching.clean_labels[p]],
                 "corrupted_label": label_names[patching.corrupted_labels[p]], "offset": offset, "scale": []}
        for s in range(len(patching.sites)):
            block, scale = quantise_matrix(patching.per_pair[p, s, :len(pair.clean)])
            codes.append(block.ravel())
            entry["scale"].append(scale)
            offset += block.size
        entries.append(entry)
    return {"patching": np.concatenate(codes)}, {
        "sites": list(patching.sites), "levels": PATCH_LEVELS, "nan_code": PATCH_NAN, "n_pairs": patching.n_pairs,
        "n_used": patching.n_used, "source": patching.source, "pairs": entries}


def build_page(about, label_names, split, states, activity, W, b, measures, ranking_name, changes, sweep,
               group_by, directions, column=None, pairs=None):
    """The page as bytes: ASCII only, the data 7 bits a character (report.explorer_encoding).

    about: {"title", "model", "seed", "split", "data", "command", ...} shown at the top;
    split: EncodedSplit (its tokens); states: States; activity: Activity (both of the split);
    W (K, Hout), b (K,); measures: {name: (K, Hout)}; ranking_name: the measure the sweep's top-k follow;
    changes: top_k_changes; sweep: the model's Sweep; group_by: the tuning curves' grouping;
    directions: {"bidirectional": bool, "hidden": H per direction}; column: (name, classes, (n,) ids) of
    another column of the data (a probed property), shown under every word, or None; pairs:
    ([MinimalPair], their PatchingResult with per_pair) of a run that patched minimal pairs, or None."""
    K = len(label_names)
    n, Hout = activity.hidden.shape
    dtype = _label_dtype(K)
    words = "\n".join(token for sentence in split.tokens for token in sentence).encode("utf-8")
    arrays, quant = encode_activity(activity)
    ablation, ablation_meta = ablation_sections(changes, sweep, label_names, dtype)
    extra = {}
    if column is not None:                  # right after the labels: the first view shows it
        extra["column"] = np.asarray(column[2]).astype(_label_dtype(len(column[1])))
    patched, pairs_meta = pair_sections(*pairs, label_names) if pairs is not None else (None, None)
    blob, index = build_sections({"words": words, "lengths": states.lengths.astype(np.uint32),
                                  "gold": states.gold.astype(dtype), "pred": states.pred.astype(dtype),
                                  **extra, **arrays, **ablation, **(patched or {})})
    meta = {"format": FORMAT, "version": VERSION, "about": about, "labels": list(label_names),
            "n_tokens": int(n), "n_sentences": int(states.lengths.size), "n_neurons": int(Hout),
            "label_dtype": np.dtype(dtype).name, "group_by": group_by, "directions": directions,
            "W": np.asarray(W, dtype=np.float64), "b": np.asarray(b, dtype=np.float64),
            "measures": {name: np.asarray(m, dtype=np.float64) for name, m in measures.items()},
            "measure_titles": {name: MEASURE_TITLES.get(name, name) for name in measures},
            "ranking": ranking_name, "quant": quant, "ablation": ablation_meta, "sections": index,
            "column": None if column is None else {"name": column[0], "classes": list(column[1]),
                                                   "dtype": np.dtype(_label_dtype(len(column[1]))).name},
            "pairs": pairs_meta}
    template = page_template()
    head, tail = template["explorer.html"].split("{{DATA}}")
    title = "".join(ch if ch.isascii() and ch.isprintable() and ch not in "<>&{}" else "?" for ch in about["title"])
    head = head.replace("{{TITLE}}", title).replace("{{CSS}}", template["explorer.css"])
    head = head.replace("{{META}}", json_for_script(meta))          # last: the data may contain anything
    tail = tail.replace("{{JS}}", template["explorer_decode.js"] + "\n" + template["explorer.js"])
    return head.encode("ascii") + to_ascii(blob) + tail.encode("ascii")


def read_page(path):
    """(meta, section) of a page :func:`build_page` wrote: meta its JSON, section(name) -> the raw
    bytes of one data section (decode the activity with explorer_encoding.decode_activity)."""
    raw = Path(path).read_bytes()

    def element(tag):
        start = raw.index(tag) + len(tag)
        return raw[start:raw.index(b"</script>", start)]
    meta = json.loads(element(META_TAG))
    blob = from_ascii(element(DATA_TAG))
    return meta, lambda name: read_section(blob, meta["sections"], name)


def write_explorer(path, params, config, split, label_names, measures, ranking, sweep, about, states=None,
                   group_by="predicted", column=None, pairs=None):
    """Measure what the page adds to a dissection (analysis.explorer_data: every token's
    activity, the tokens each top-k ablation changes) and write the page at ``path``.
    Returns the Path.

    measures: {name: (K, Hout)} (analysis.measures.all_measures); ranking: the name of the
    measure whose top-k the sweep ablated; sweep: the model's Sweep, which says which
    (mode, label, k) were ablated; states: the split's States if already collected; pairs:
    ([MinimalPair], PatchingResult with per_pair) to show, or None."""
    data = measure_for_explorer(params, config, split, label_names, measures[ranking], sweep, states)
    page = build_page(about, label_names, data.split, data.states, data.activity, params["out.W"], params["out.b"],
                      measures, ranking, data.changes, sweep, group_by,
                      {"bidirectional": bool(config.bidirectional), "hidden": int(config.hidden)}, column, pairs)
    atomic_write_bytes(Path(path), page)
    return Path(path)


def describe_model(config, preset=None):
    """One line naming the model: preset, LSTM kind and sizes."""
    kind = (f"BiLSTM, {config.hidden} neurons per direction ({config.output_size} in all; "
            f"0-{config.hidden - 1} forward, {config.hidden}-{config.output_size - 1} backward)"
            if config.bidirectional else f"LSTM, {config.hidden} neurons")
    extras = []
    if config.char_filters > 0:
        extras.append(f"character CNN {config.char_filters} filters")
    if config.affix_dim > 0:
        extras.append(f"affix embeddings {config.affix_dim}")
    return f"{preset + ': ' if preset else ''}{kind}" + (f", {', '.join(extras)}" if extras else "")


def patched_pairs(pairs, patching):
    """([MinimalPair], PatchingResult) for write_explorer, or None: pairs an EncodedPairs (or None),
    patching its PatchingResult as the analysis returned it (per_pair is in memory only)."""
    if pairs is None or patching is None or patching.per_pair is None:
        return None
    return pairs.pairs, patching


def about_page(run_name, metrics, config, seed, group_by, dev_path):
    """What the page says it shows: model, split, seed, data and command (from metrics.json's dict)."""
    by_seed = (metrics.get("by_seed") or {}).get(str(seed), {})
    dev_acc = (by_seed.get("dev") or {}).get("token_acc")
    decode = config.decode
    chunking = (metrics.get("label_scheme") or {}).get("chunking", True)     # plain tags: constrained = argmax
    return {"title": f"{run_name}, seed {seed}", "run": run_name,
            "model": describe_model(config, metrics.get("preset")), "seed": seed, "split": "dev",
            "data": f"{metrics.get('data')}: {dev_path}", "command": metrics.get("command", ""),
            "dev_token_acc": dev_acc,
            "prediction": "argmax of the logits (what the analysis reads" +
                          (f"; the run's scores read {decode} decoding)" if decode != "argmax" and chunking else ")"),
            "group_by": group_by}


def write_run_explorer(out_dir, params, config, split, label_names, model, metrics, column=None, pairs=None):
    """The one call a run makes: the page of one dissected model (a ModelDissection; metrics:
    the run's metrics.json dict) at out_dir/explorer.html; pairs: the pipeline.EncodedPairs the
    model's patching (model.patching) measured, or None."""
    about = about_page(Path(out_dir).name, metrics, config, model.seed, model.group_by,
                       (metrics.get("splits") or {}).get("dev", {}).get("path", "dev"))
    return write_explorer(Path(out_dir) / "explorer.html", params, config, split, label_names, model.measures,
                          "xin", model.sweep, about, model.states, model.group_by, column,
                          patched_pairs(pairs, model.patching))


def main(argv=None):
    """The command: 0 on success, 2 (one line "error: ...") on a run directory it cannot read."""
    parser = argparse.ArgumentParser(prog="python -m lstm_numpy.report.explorer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", help="a run directory written by run.py (metrics.json, analysis.json, seed<N>/)")
    parser.add_argument("--seed", type=int, help="the model to show (default: the run's first seed)")
    parser.add_argument("--out", help="page to write (default RUN_DIR/explorer.html)")
    parser.add_argument("--data-dir", help="where the run's data files are now, if they moved "
                                           "(default: the paths metrics.json records)")
    args = parser.parse_args(argv)
    try:
        run = load_run(args.run_dir, args.seed, args.data_dir)
        for note in run.notes:
            print(note)
        out = Path(args.out) if args.out else Path(args.run_dir) / "explorer.html"
        about = about_page(Path(args.run_dir).resolve().name, run.metrics, run.config, run.seed, run.group_by,
                           run.dev_path)
        path = write_explorer(out, run.params, run.config, run.split, run.label_names, run.measures, "xin",
                              run.sweep, about, run.states, run.group_by, run.column, run.pairs)
    except LSTMNumpyError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
