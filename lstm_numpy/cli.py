"""Train LSTM taggers end to end, dissect their neurons, and write everything under runs/<name>/.

    python run.py                      # generated NER corpus, no download, ~2 minutes
    python run.py --quick              # tiny smoke run, seconds
    python run.py --data generated-pos # the same corpus tagged with part of speech
    python run.py --data conll2003 --data-dir PATH
    python run.py --data conllu --train tr.conllu --dev dev.conllu --test te.conllu
    python -m lstm_numpy ...           # the same command, from an installed package
    python run.py import-torch STATE --vocab VOCAB.json --out DIR    # a PyTorch tagger -> a checkpoint
    python run.py export-torch RUN_OR_CHECKPOINT --out FILE.safetensors   # and back

With no arguments it generates a corpus (written into the run directory),
trains three models (seeds 0, 1, 2), evaluates them on dev and test, dissects
their neurons on dev (sensitivity, ablation, consistency across seeds) and
writes metrics.json, report.md, analysis.json, ablation.csv, figures/ and,
per seed, seed<N>/best.npz + best.json and train_log.jsonl.

Labels: IOB1 files are read as IOB2, IOB2 and BIOES as they are; plain tags
(part of speech) have no entities, so models are chosen by token accuracy
and no entity F1 is reported. The run prints the scheme it detected.
Errors in the input (a missing or malformed file, an unseen label, options
that do not go together) print one line, "error: ...", and exit with status 2.
"""
from __future__ import annotations

import os

# The Numba kernels already use both cores; BLAS threads on top of them oversubscribe a
# small machine (GEMMs 10x slower measured on 2 cores). This must happen before NumPy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
# Numba's default OpenMP layer leaves idle worker threads spinning between kernels, which
# measurably slowed the BLAS calls in between; the workqueue layer's threads sleep.
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

import argparse  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402


from .defaults import (BACKENDS, DATA_KINDS, DECODERS, DEFAULT_LR, FILE_KINDS, GENERATED_SIZES, GROUPINGS,  # noqa: E402
                       MAX_EPOCHS, MAX_PATIENCE, MIN_EPOCHS, MIN_PATIENCE, PRESETS, QUICK_EPOCHS, QUICK_HIDDEN,
                       QUICK_LR, RANDOM_POOLS, DissectOptions, TrainConfig)
from .errors import LSTMNumpyError  # noqa: E402
from .options import parse_seeds, resolve_options  # noqa: E402


def pipeline():
    """(experiment.run, interop.files.import_torch, interop.files.export_torch), imported when a
    command runs, not when the parser is built: NumPy's kernels, Numba and the whole pipeline
    take about a second to import, and ``--help`` or a refused option should answer at once.
    The one import of the package inside a function (tests/test_imports.py names it)."""
    from .experiment import run
    from .interop.files import export_torch, import_torch
    return run, import_torch, export_torch

# The options that configure something only some runs have default to None here, so that
# lstm_numpy.options.resolve_options can refuse them where they mean nothing; it fills in
# every default.  The help texts quote the defaults from where they are decided.
ANALYSIS = DissectOptions()
TRAINING = TrainConfig()


def _count(minimum):
    def parse(text):
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value
    return parse


def _seeds(text):
    try:
        seeds = parse_seeds(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if seeds == 0:
        raise argparse.ArgumentTypeError("must be at least 1, got 0")
    return seeds


def _positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def build_parser(prog=None):
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data = p.add_argument_group("data")
    data.add_argument("--data", choices=DATA_KINDS, default="generated",
                      help="generated NER corpus (default), the same corpus with part-of-speech tags "
                           "(generated-pos) or with rare entities, about 2%% of tokens (generated-rare), CoNLL-2003 (word POS chunk NER), a CoNLL-U treebank, "
                           "whitespace column files, or token<TAB>label files")
    data.add_argument("--data-dir", help="folder with train/dev (or valid)/test files (.txt, .conllu, .tsv); "
                                         "for conll2003 the default is ../shared/data/conll2003")
    data.add_argument("--train", help=f"training file ({', '.join(FILE_KINDS)}; overrides --data-dir)")
    data.add_argument("--dev", help="development file")
    data.add_argument("--test", help="test file")
    data.add_argument("--label-column", type=int, help="label column for --data columns (default -1, the last)")
    data.add_argument("--conllu-tag", choices=("upos", "xpos"), help="CoNLL-U tag to predict (default upos)")
    data.add_argument("--unknown-labels", choices=("error", "O"), default="error",
                      help="a dev/test label never seen in training: stop (default) or map it to O")
    data.add_argument("--embeddings", help="pretrained vectors in GloVe text format (dimension must equal 100)")
    data.add_argument("--checkpoint", action="append", metavar="DIR",
                      help="dissect this trained model instead of training (a run's seed<N>/, a checkpoint directory "
                           "or an imported PyTorch tagger: python run.py import-torch); repeat it for several "
                           "models, compared across as seeds are; --dev and --test are required, --train gives the "
                           "baseline")
    model = p.add_argument_group("model")
    model.add_argument("--preset", choices=sorted(PRESETS),
                       help="paper: 1 LSTM of 50 neurons; bilstm: 25 neurons per direction (default)")
    model.add_argument("--hidden", type=_count(1), help="neurons per direction (overrides the preset)")
    model.add_argument("--char-filters", type=_count(0),
                       help="character-CNN filters per token, 0 for none (overrides the preset; bilstm: 30)")
    model.add_argument("--dropout-mask", choices=("token", "sentence"),
                       help="a dropout mask per token, or one per sentence shared by its tokens "
                            "(overrides the preset; paper: token, bilstm: sentence)")
    model.add_argument("--case-dim", type=_count(0),
                       help="size of the casing embedding (lower, UPPER, Title, digits, ...), 0 for none (default 10); "
                            "a model without casing, affixes or a character CNN can be exported to PyTorch")
    model.add_argument("--affix-dim", type=_count(0),
                       help="size of each affix embedding, 0 for none (overrides the preset; bilstm: 20)")
    model.add_argument("--decode", choices=DECODERS,
                       help="labels from the logits: per-token argmax, or the best sequence the label scheme "
                            "allows (IOB2/BIOES; the same as argmax for POS tags); used for every reported "
                            "score, the analysis always reads the argmax (overrides the preset; "
                            "paper: argmax, bilstm: constrained)")
    model.add_argument("--backend", choices=BACKENDS, default="numba", help="LSTM implementation (default numba)")
    model.add_argument("--dtype", choices=("float32", "float64"), help="default float32")
    train = p.add_argument_group("training")
    train.add_argument("--epochs", type=_count(1),
                       help=f"maximum epochs (default: as many as --max-updates optimizer steps take on this corpus, "
                            f"{MIN_EPOCHS} to {MAX_EPOCHS}; {QUICK_EPOCHS} with --quick)")
    train.add_argument("--max-updates", type=_count(1),
                       help=f"the default length of a run in optimizer steps (default {TRAINING.max_updates:,}), "
                            "whatever the corpus size")
    train.add_argument("--batch-size", type=_count(1), help=f"default {TRAINING.batch_size}")
    train.add_argument("--optimizer", choices=("adam", "sgd"), help="default adam")
    train.add_argument("--lr", type=_positive_float,
                       help=f"learning rate (default: adam {DEFAULT_LR['adam']:g}, sgd {DEFAULT_LR['sgd']:g}; "
                            f"{QUICK_LR:g} with --quick)")
    train.add_argument("--patience", type=_count(1),
                       help="epochs without dev progress before the rate is annealed or training stops (default: "
                            f"--patience-updates steps' worth, {MIN_PATIENCE} to {MAX_PATIENCE} epochs); progress is "
                            "a better dev score, or a dev loss 1%% lower while the score has not yet moved")
    train.add_argument("--patience-updates", type=_count(1),
                       help=f"the default patience in optimizer steps (default {TRAINING.patience_updates:,})")
    train.add_argument("--anneals", type=_count(0),
                       help=f"when patience runs out, multiply the rate by {TRAINING.anneal:g} and go on from the best "
                            f"weights this many times before stopping (default {TRAINING.anneals}; 0: stop at once)")
    train.add_argument("--lr-decay", type=_positive_float,
                       help="multiply the learning rate by this after each epoch without dev improvement (default 1)")
    train.add_argument("--restore-best", action="store_true",
                       help="after an epoch without dev improvement, go on from the best weights so far")
    train.add_argument("--average", type=float,
                       help="evaluate and keep a moving average of the weights with this decay per step, "
                            "e.g. 0.999 (default 0: the weights themselves)")
    train.add_argument("--unk-replace", type=float,
                       help="probability a training singleton is replaced by <unk> (default 0.5)")
    train.add_argument("--word-unk", type=float,
                       help="probability any other training word is replaced by <unk> (default 0)")
    train.add_argument("--seed", type=int, help="the first model's seed (default 0)")
    out = p.add_argument_group("output")
    out.add_argument("--out", help="run directory (default runs/<data>-<preset>-seed<seed>)")
    out.add_argument("--force", action="store_true", help="overwrite an existing run directory")
    out.add_argument("--resume", action="store_true",
                     help="continue the run in --out (or the default directory) that Ctrl-C interrupted; "
                          "seeds already finished are reloaded, not retrained, and the analysis is redone")
    out.add_argument("--quick", action="store_true",
                     help=f"tiny corpus ({GENERATED_SIZES['quick'][0]} training sentences when generated), "
                          f"hidden {QUICK_HIDDEN}, {QUICK_EPOCHS} epochs: a smoke test")
    out.add_argument("--no-progress", action="store_true", help="no progress bars")
    out.add_argument("--jobs", type=_count(1), default=1,
                     help="train, then dissect, the seeds in this many processes at once (default 1; the models "
                          "and every number of the analysis are the same, bit for bit; each process gets "
                          "cores/jobs Numba threads and prints lines, not bars)")
    out.add_argument("--cluster", metavar="ADDRESS",
                     help="train, then dissect, the seeds on the Dask cluster whose scheduler is at ADDRESS (e.g. "
                          "tcp://10.0.0.5:8786; pip install \".[cluster]\"); the same models and numbers as here, "
                          "the data sent once, a seed whose worker is lost run once more; the workers must see "
                          "the run directory at the same path (docs/cluster.md)")
    analysis = p.add_argument_group("analysis")
    analysis.add_argument("--seeds", type=_seeds, metavar="N|A-B|A,B,...",
                          help="train this many models, seeds --seed, --seed+1, ... (default 3), or the seeds "
                               "named: a range such as 0-49 (both ends included) or a list such as 0,2,7; "
                               "for the consistency analysis")
    analysis.add_argument("--group-by", choices=GROUPINGS,
                          help="count a token for its predicted label (default, as the public reproduction "
                               "does) or its gold label in the sensitivity that ranks neurons and in the "
                               "tuning curves; the report compares both groupings either way")
    analysis.add_argument("--random-draws", type=_count(0),
                          help=f"random-k ablations per label and k in output mode (default {ANALYSIS.n_random}; "
                               f"recurrent mode draws {ANALYSIS.n_random_recurrent})")
    analysis.add_argument("--random-pool", choices=RANDOM_POOLS,
                          help="draw random-k neurons from all neurons (default; a draw may include the label's "
                               "own top-k) or only from those outside the label's top-k")
    analysis.add_argument("--no-recurrent", action="store_true", default=None,
                          help="skip recurrent-mode ablation (slow)")
    analysis.add_argument("--recurrent-seeds", choices=("first", "all"),
                          help="recurrent ablation (the LSTM rerun with neurons clamped, every set of one "
                               "sweep in one pass) for every seed's model (default) or the first seed's only")
    analysis.add_argument("--probe-column", type=int, metavar="N",
                          help="also train a linear probe (NeuroX's, held out, with a control task) for column N of the "
                               "data (0-based, as --label-column; 1 is CoNLL-2003's part of speech, 2 its chunks), a "
                               "property the model was never trained on, and ablate each of its classes' top neurons "
                               "(--data conll2003 or columns)")
    analysis.add_argument("--pairs", metavar="FILE",
                          help="minimal pairs to patch (blocks of a clean sentence, a corrupted one, tab-separated "
                               "tokens aligned one to one, and the token number to read; docs/interventions.md): "
                               "how much of the logit difference each neuron's h and c at each step carries, and "
                               "its forget, input and output gates clamped; --data generated patches its own "
                               "pairs by default")
    analysis.add_argument("--no-patching", action="store_true", default=None,
                          help="skip activation patching and gate clamps (on by default for --data generated)")
    analysis.add_argument("--no-analysis", action="store_true", help="train and evaluate only")
    analysis.add_argument("--force-analysis", action="store_true",
                          help="dissect the models even if one learned nothing (one label everywhere, no entity, or "
                               "below the most-frequent-label baseline on dev), which a run otherwise refuses; the "
                               "report's first line then says so")
    return p


def _import_torch(args):
    out, imported = pipeline()[1](args.state, args.vocab, args.out, args.force)
    config = imported.config
    print(f"read {args.state}: {'bidirectional ' if config.bidirectional else ''}LSTM of {config.hidden} neurons"
          f"{' per direction' if config.bidirectional else ''}, {config.word_dim}-d embeddings of "
          f"{config.vocab_size - 2:,} words, {config.n_labels} labels, {config.dtype}")
    for ours, theirs, how in imported.mapping:
        print(f"  {ours:12s} <- {theirs}  ({how})")
    print(f"wrote {out}/best.npz and best.json; dissect it with: python run.py --checkpoint {out} --data ... "
          "--dev FILE --test FILE")


def _export_torch(args):
    out, vocab = pipeline()[2](args.source, args.out, args.seed)
    print(f"wrote {out} (PyTorch's names: embedding.weight, lstm.weight_ih_l0, ..., linear.weight) and {vocab}")


def subcommand_parsers(prog):
    """{name: (parser, handler)} of the commands beside the run."""
    importer = argparse.ArgumentParser(
        prog=f"{prog} import-torch", description="Convert a trained PyTorch tagger (nn.Embedding -> nn.LSTM -> "
        "nn.Linear, one layer, uni- or bidirectional) into this project's checkpoint, which every other command "
        "takes (python run.py --checkpoint DIR ...). Tensors are found by PyTorch's names (weight_ih_l0, ...) and "
        "their shapes; nothing is unpickled. See docs/pytorch.md.")
    importer.add_argument("state", help="the state_dict: .safetensors, .npz, or .pt/.pth (these need PyTorch)")
    importer.add_argument("--vocab", required=True,
                          help='VOCAB.json: {"words": [...], "labels": [...], "unk": "<unk>", "pad": "<pad>", '
                               '"lowercase": false}, words and labels in index order')
    importer.add_argument("--out", required=True, help="checkpoint directory to write (best.npz + best.json)")
    importer.add_argument("--force", action="store_true", help="replace an existing checkpoint directory")
    exporter = argparse.ArgumentParser(
        prog=f"{prog} export-torch", description="Write one of this project's taggers in PyTorch's names and "
        "layout, with its VOCAB.json beside it (FILE's stem + .vocab.json). Models with casing, affix or character "
        "features are refused. See docs/pytorch.md for the few lines of PyTorch that load it.")
    exporter.add_argument("source", help="a run directory (its first seed unless --seed), a checkpoint directory, "
                                         "or a checkpoint (best.npz/best.json)")
    exporter.add_argument("--out", required=True, help="the file to write: .safetensors (or .npz)")
    exporter.add_argument("--seed", type=int, help="the seed of a run directory to export")
    return {"import-torch": (importer, _import_torch), "export-torch": (exporter, _export_torch)}


def main(argv=None, prog=None):
    """The command line: 0 on success, 2 on the project's own errors (one line on stderr),
    130 on Ctrl-C; any other exception is a bug and keeps its traceback."""
    prog = prog or ("python " + Path(sys.argv[0]).name)
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = subcommand_parsers(prog)
    if argv and argv[0] in commands:
        parser, handler = commands[argv[0]]
        try:
            handler(parser.parse_args(argv[1:]))
        except LSTMNumpyError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        return 0
    args = build_parser(prog).parse_args(argv)
    warnings.formatwarning = lambda message, category, *rest, **kw: f"warning: {message}\n"
    command = " ".join([prog] + argv)
    try:
        options = resolve_options(**vars(args))
        pipeline()[0](options, command)
    except LSTMNumpyError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        print(f"\n{interrupt}" if str(interrupt) else "\ninterrupted", file=sys.stderr)
        return 130
    return 0
