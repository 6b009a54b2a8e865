"""Every default a run starts from, and every choice the command line offers, in plain Python.

This module imports nothing (no NumPy, no Numba, no Matplotlib), so that the command line
can build its parser, and answer ``--help`` or refuse a bad option, before the pipeline is
imported (cli.py; importing NumPy, Numba and the kernels takes about a second).  Each
value is decided here once; the modules that use it import it from here:

    data        DATA_KINDS, GENERATED_KINDS, FILE_KINDS, GENERATED_SIZES   (pipeline)
    model       PRESETS and the sizes they name; DECODERS (evaluation.decoding);
                BACKENDS, DEFAULT_BACKEND (model.backend)
    training    TrainConfig, the epoch and patience bounds (training.loop); DEFAULT_LR
                (training.optim)
    analysis    DissectOptions and its choices (analysis.dissect, .sensitivity, .sweep)
    --quick     QUICK_EPOCHS, QUICK_LR, QUICK_HIDDEN (options.resolve_options)
"""
from __future__ import annotations

from dataclasses import dataclass

# ------------------------------------------------------------ data

DATA_KINDS = ("generated", "generated-pos", "generated-rare", "conll2003", "conllu", "columns", "tsv")
GENERATED_KINDS = ("generated", "generated-pos", "generated-rare")   # written by data.generated, no files read
FILE_KINDS = ("conll2003", "conllu", "columns", "tsv")     # read from --train/--dev/--test or --data-dir
GENERATED_SIZES = {"full": (3000, 500, 500), "quick": (400, 100, 100)}   # sentences: train, dev, test

# ------------------------------------------------------------ model

CHAR_DIM, CHAR_FILTERS = 25, 30  # the character CNN (model.chars): 25-d characters, 30 filters of width 3
AFFIX_DIM = 20      # per affix kind: 5 kinds x 20 = 100 inputs next to the 100-d word vector
CASE_DIM = 10       # the casing embedding
PRESETS = {
    # the paper's tagger: one unidirectional LSTM of 50 neurons, 100-d words, dropout 0.5, no CRF
    "paper": dict(hidden=50, bidirectional=False, word_dim=100, dropout=0.5),
    # 25 neurons per direction, 50 in total, so the analysis sees as many neurons as in "paper"
    # and, unlike "paper", a view inside each word: a character CNN (model.chars) and
    # embeddings of the word's affixes (data.vocab.AFFIXES), for the words it never saw;
    # its dropout masks are drawn once per sentence ("variational"), and its entity scores
    # read the best well-formed label sequence (evaluation.decoding), both of which scored
    # higher on the CoNLL-2003 dev split (docs/results/training.md)
    "bilstm": dict(hidden=25, bidirectional=True, word_dim=100, dropout=0.5, variational=True,
                   affix_dim=AFFIX_DIM, char_filters=CHAR_FILTERS, decode="constrained"),
}
DECODERS = ("argmax", "constrained")     # labels from logits (evaluation.decoding)
BACKENDS = ("numba", "numpy", "cuda")    # the LSTM's kernels (model.backend)
DEFAULT_BACKEND = "numba"

# ------------------------------------------------------------ training

# A tagger run's rate when none is given: Adam at 3e-3 was chosen on the matrix of corpora in
# docs/results/training_matrix.md (it reaches the dev scores of 1e-3 in about half the epochs);
# SGD keeps the usual 0.1.
DEFAULT_LR = {"adam": 3e-3, "sgd": 0.1}
MIN_EPOCHS, MAX_EPOCHS = 15, 100       # the default maximum epochs lies between these
MIN_PATIENCE, MAX_PATIENCE = 3, 15     # the default patience, in epochs, lies between these


@dataclass(frozen=True)
class TrainConfig:
    """Training's own defaults (training.loop.train)."""

    epochs: int | None = None        # maximum epochs; None: as many as max_updates steps take (schedule())
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float | None = None          # None: DEFAULT_LR (Adam 3e-3)
    clip: float = 5.0                # global-norm clipping; 0 disables
    patience: int | None = None      # epochs without dev progress before annealing or stopping; None: from
                                     # patience_updates (schedule())
    max_updates: int = 6000          # the default length of a run, in optimizer steps
    patience_updates: int = 600      # the default patience, in optimizer steps
    anneal: float = 0.5              # the rate is multiplied by this, from the best weights, when patience runs out
    anneals: int = 0                 # ... this many times, then training stops (0: stop at once; annealing
                                     # found no better dev epoch on the training matrix, at a cost in time)
    unk_replace: float = 0.5         # probability a training singleton becomes <unk>
    word_unk: float = 0.0            # probability any other training word becomes <unk>
    lr_decay: float = 1.0            # the learning rate is multiplied by this after an epoch without dev gain
    restore_best: bool = False       # ... and training goes on from the best weights so far
    average: float = 0.0             # > 0: evaluate and keep a moving average of the weights with this decay
    select: str = "auto"             # dev metric that picks the best epoch: entity_f1, token_acc, or
                                     # auto (entity_f1 for chunk labels, token_acc for plain tags)
    seed: int = 0


# ------------------------------------------------------------ analysis

GROUPINGS = ("predicted", "gold")        # the tokens a label's sensitivity averages over (analysis.sensitivity)
RANDOM_POOLS = ("all", "outside-top")    # where random-k draws come from (analysis.sweep.plan_sweep)
RECURRENT_SEEDS = ("all", "first", "none")


@dataclass(frozen=True)
class DissectOptions:
    """Every choice of the dissection, with the analysis's defaults (analysis.dissect)."""

    group_by: str = "predicted"        # the grouping of the sensitivity that ranks neurons (GROUPINGS)
    ks: tuple = (1, 2, 3, 5, 10, 20)   # output-mode sweep
    recurrent_ks: tuple = (1, 3, 5, 10)   # recurrent-mode sweep (each ablation reruns the LSTM)
    claim_ks: tuple = (1, 3, 5, 10)    # the rankings compared held out, and the claims checked
    n_random: int = 20                 # random draws per (label, k), output mode and the comparison
    n_random_recurrent: int = 5        # random draws per (label, k), recurrent mode
    random_pool: str = "all"           # analysis.sweep.plan_sweep
    recurrent_seeds: str = "all"       # which models get the recurrent sweep: all, first, none

    def __post_init__(self):
        if self.group_by not in GROUPINGS:
            raise ValueError(f"group_by must be one of {GROUPINGS}, got {self.group_by!r}")
        if self.random_pool not in RANDOM_POOLS:
            raise ValueError(f"random_pool must be one of {RANDOM_POOLS}, got {self.random_pool!r}")
        if self.recurrent_seeds not in RECURRENT_SEEDS:
            raise ValueError(f"recurrent_seeds must be one of {RECURRENT_SEEDS}, got {self.recurrent_seeds!r}")

    def recurrent_for(self, index):
        """Whether the ``index``-th model of a run (0 = the first seed) gets the recurrent sweep."""
        return self.recurrent_seeds == "all" or (self.recurrent_seeds == "first" and index == 0)


# ------------------------------------------------------------ --quick

QUICK_EPOCHS = 8                          # --quick: the most epochs (the corpus decides otherwise:
                                          # training.loop.schedule)
QUICK_LR = 2e-2                           # --quick: few updates, so a higher rate (the optimizer's default otherwise)
QUICK_HIDDEN = 16                         # --quick: neurons per direction (the preset's otherwise)
