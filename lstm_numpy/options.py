"""One record of a run's options, resolved once, and written whole to the run directory.

    resolve_options(**given)   every option of a run -> RunOptions (frozen): the defaults,
                               --quick and every check of options that do not go together,
                               in this one place
    write_run_json / read_run_json
                               RUN_DIR/run.json: the options, the package version and every
                               data file with its SHA-256; read back by every command that
                               opens an existing run (the explorer), which refuses a run.json
                               from a newer version or data that changed on disk

The command line (cli.py) parses the flags and hands them here by name; the lessons
resolve their options here too, so ``--quick`` means the same in both.  The
defaults themselves (defaults.TrainConfig, defaults.DissectOptions, the --quick values)
live in defaults.py; this module chooses a run's values for them.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

from . import __version__
from .atomic import atomic_write_json
from .defaults import (FILE_KINDS, GENERATED_KINDS, GENERATED_SIZES, QUICK_EPOCHS, QUICK_HIDDEN, QUICK_LR,
                       DissectOptions, TrainConfig)
from .errors import DataNotFoundError, RunFormatError, UsageError

RUN_FORMAT = "lstm_numpy.run"
RUN_FORMAT_VERSION = 1



@dataclass(frozen=True)
class DataOptions:
    kind: str = "generated"              # pipeline.DATA_KINDS
    data_dir: str | None = None
    train: str | None = None
    dev: str | None = None
    test: str | None = None
    label_column: int = -1               # --data columns
    conllu_tag: str = "upos"             # --data conllu
    unknown_labels: str = "error"        # a dev/test label never seen in training: "error" or "O"
    embeddings: str | None = None        # GloVe text file
    probe_column: int | None = None      # a column of the data to probe the hidden states for (0: the token)
    pairs: str | None = None             # minimal pairs to patch (data.pairs): a pair file, "generated" (the
                                         # generated corpus's own, its default) or None (no patching)
    generated_sizes: tuple = GENERATED_SIZES["full"]    # sentences (train, dev, test) of a generated corpus


@dataclass(frozen=True)
class ModelOptions:
    preset: str = "bilstm"
    hidden: int | None = None            # per direction; None: the preset's
    char_filters: int | None = None
    affix_dim: int | None = None
    case_dim: int | None = None          # the casing embedding; None: the preset's (pipeline.CASE_DIM)
    variational: bool | None = None      # one dropout mask per sentence (--dropout-mask sentence)
    decode: str | None = None
    backend: str = "numba"
    dtype: str = "float32"


@dataclass(frozen=True)
class OutputOptions:
    out: str = "runs/generated-bilstm-seed0"    # the run directory
    force: bool = False
    resume: bool = False
    progress: bool = True
    jobs: int = 1
    cluster: str | None = None          # a Dask scheduler's address: the seeds run there (workers.per_seed)


@dataclass(frozen=True)
class RunOptions:
    data: DataOptions
    model: ModelOptions
    train: TrainConfig                   # seed: the first model's
    seeds: tuple                         # (M,) one model each
    analysis: DissectOptions | None      # None: --no-analysis
    output: OutputOptions
    quick: bool = False
    force_analysis: bool = False         # dissect a model that learned nothing (training.verdict) anyway
    checkpoints: tuple = ()              # trained models to dissect instead of training (paths)

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, data):
        """The RunOptions of ``to_dict``'s output (a TypeError names an unknown or missing field)."""
        def build(kind, values):
            return None if values is None else kind(**{k: tuple(v) if isinstance(v, list) else v
                                                       for k, v in values.items()})
        return cls(data=build(DataOptions, data["data"]), model=build(ModelOptions, data["model"]),
                   train=build(TrainConfig, data["train"]), seeds=tuple(data["seeds"]),
                   analysis=build(DissectOptions, data["analysis"]), output=build(OutputOptions, data["output"]),
                   quick=bool(data["quick"]), force_analysis=bool(data.get("force_analysis", False)),
                   checkpoints=tuple(data.get("checkpoints", ())))


def _flag(name):
    return "--" + name.replace("_", "-")


def _refuse_ignored(given):
    """UsageError for options that would be ignored (given: name -> value, None when not given)."""
    kind = given.get("data") or "generated"
    if kind in GENERATED_KINDS:
        for name in ("train", "dev", "test", "data_dir"):
            if given.get(name) is not None:
                raise UsageError(f"{_flag(name)} reads files, but --data {kind} writes its own corpus "
                                 f"(into the run directory); for your files use --data {'|'.join(FILE_KINDS)}")
    if given.get("label_column") is not None and kind != "columns":
        raise UsageError(f"--label-column is for --data columns, not --data {kind}")
    if given.get("conllu_tag") is not None and kind != "conllu":
        raise UsageError(f"--conllu-tag is for --data conllu, not --data {kind}")
    analysis = ("group_by", "random_draws", "random_pool", "recurrent_seeds", "no_recurrent", "force_analysis")
    if given.get("no_analysis"):
        ignored = [_flag(name) for name in analysis if given.get(name) not in (None, False)]
        if ignored:
            raise UsageError(f"{', '.join(ignored)} configure the analysis, which --no-analysis skips")
    if given.get("no_recurrent") and given.get("recurrent_seeds") is not None:
        raise UsageError("--recurrent-seeds chooses the models for recurrent ablation, which --no-recurrent skips")
    if given.get("probe_column") is not None:
        if kind not in ("conll2003", "columns"):
            raise UsageError(f"--probe-column reads a column of whitespace-column files (--data conll2003 or columns), "
                             f"not --data {kind}")
        if given.get("no_analysis"):
            raise UsageError("--probe-column configures the analysis, which --no-analysis skips")
    if given.get("pairs") is not None or given.get("no_patching"):
        if given.get("no_analysis"):
            raise UsageError(f"{'--pairs' if given.get('pairs') else '--no-patching'} configures the analysis, "
                             "which --no-analysis skips")
        if given.get("pairs") is not None and given.get("no_patching"):
            raise UsageError("--pairs gives pairs to patch and --no-patching skips patching; choose one")
        if given.get("pairs") is not None and not Path(given["pairs"]).is_file():
            raise DataNotFoundError(f"--pairs {given['pairs']}: no such file")
    if given.get("resume") and given.get("force"):
        raise UsageError("--resume continues the run in its directory and --force deletes it; choose one")


def parse_seeds(text):
    """--seeds TEXT -> a count (int, "3": seeds --seed, --seed+1, --seed+2) or the seeds themselves
    (tuple: "0-49" a range, both ends included; "0,2,7" a list; or both, "0-4,10"); ValueError
    saying what is wrong."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    seeds = []
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        if not low.strip().isdigit() or (dash and not high.strip().isdigit()):
            raise ValueError(f"{text!r} is not a count (3), a range (0-49) or a list (0,2,7) of seeds")
        low, high = int(low), int(high) if dash else int(low)
        if high < low:
            raise ValueError(f"the range {part.strip()} runs backwards")
        seeds.extend(range(low, high + 1))
    return tuple(seeds)


def seeds_text(seeds):
    """The seeds as --seeds would take them back: "0-49", "0,2,7"."""
    seeds = list(seeds)
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(map(str, seeds))


TRAINING_FLAGS = ("preset", "hidden", "char_filters", "dropout_mask", "affix_dim", "case_dim", "decode", "dtype",
                  "epochs", "batch_size", "optimizer", "lr", "patience", "max_updates", "patience_updates", "anneals",
                  "lr_decay", "restore_best", "average", "unk_replace", "word_unk", "embeddings", "seeds", "resume")


def resolve_options(*, data="generated", data_dir=None, train=None, dev=None, test=None, label_column=None,
                    conllu_tag=None, unknown_labels="error", embeddings=None, preset=None, hidden=None,
                    char_filters=None, dropout_mask=None, affix_dim=None, case_dim=None, decode=None,
                    backend="numba", dtype=None, epochs=None, batch_size=None, optimizer=None, lr=None,
                    patience=None, max_updates=None, patience_updates=None, anneals=None, lr_decay=None,
                    restore_best=False, average=None, unk_replace=None, word_unk=None, seed=None, out=None, force=False,
                    resume=False, quick=False, no_progress=False, jobs=1, cluster=None, seeds=None, group_by=None,
                    random_draws=None, random_pool=None, no_recurrent=False, recurrent_seeds=None, no_analysis=False,
                    force_analysis=False, checkpoint=None, probe_column=None, pairs=None, no_patching=False):
    """Every option of a run, by its command-line name (None: not given), -> RunOptions.

    Refuses (UsageError, naming the flag) an option that would be ignored; fills in every
    default: --quick's smaller corpus, fewer epochs, higher rate and smaller model, the
    training schedule's (training.loop.TrainConfig: the epochs and patience follow the
    corpus unless given), the analysis's k values and random draws
    (analysis.dissect.DissectOptions), the run directory.  ``checkpoint``: trained models
    (paths) to dissect instead of training; every option that trains is then refused.
    """
    _refuse_ignored(dict(locals()))
    checkpoints = tuple(str(path) for path in (checkpoint or ()))
    if checkpoints:
        given = dict(locals())
        trains = [_flag(name) for name in TRAINING_FLAGS if given[name] not in (None, False)]
        if trains:
            raise UsageError(f"{', '.join(trains)} configure training, but --checkpoint dissects trained models")
    if epochs is not None and max_updates is not None:
        raise UsageError("--epochs sets the most epochs and --max-updates derives them from the corpus; choose one")
    if patience is not None and patience_updates is not None:
        raise UsageError("--patience sets the patience in epochs and --patience-updates derives it; choose one")
    if cluster is not None and jobs > 1:
        raise UsageError("--jobs runs the seeds in processes here and --cluster on a Dask cluster; choose one")
    if isinstance(seeds, (tuple, list)):
        if seed is not None:
            raise UsageError(f"--seeds {seeds_text(seeds)} names the seeds; --seed gives the first of a count")
        if len(set(seeds)) != len(seeds) or min(seeds) < 0:
            raise UsageError(f"--seeds {seeds_text(seeds)}: seeds must be distinct and not negative")
        seed, models = seeds[0], tuple(int(s) for s in seeds)
    else:
        seed = 0 if seed is None else seed
        models = tuple(seed + i for i in range(3 if seeds is None else seeds))
    defaults, training = DissectOptions(), TrainConfig()
    preset = preset or "bilstm"
    analysis = None if no_analysis else DissectOptions(
        group_by=group_by or defaults.group_by,
        n_random=defaults.n_random if random_draws is None else random_draws,
        random_pool=random_pool or defaults.random_pool,
        recurrent_seeds="none" if no_recurrent else recurrent_seeds or defaults.recurrent_seeds)
    pick = lambda value, default: default if value is None else value  # noqa: E731
    name = "checkpoints" if checkpoints else preset
    return RunOptions(
        data=DataOptions(kind=data, data_dir=data_dir, train=train, dev=dev, test=test,
                         label_column=-1 if label_column is None else label_column,
                         conllu_tag=conllu_tag or "upos", unknown_labels=unknown_labels, embeddings=embeddings,
                         probe_column=probe_column,
                         pairs=None if no_analysis or no_patching else
                         pairs or ("generated" if data in ("generated", "generated-rare") else None),
                         generated_sizes=GENERATED_SIZES["quick" if quick else "full"]),
        model=ModelOptions(preset=preset, hidden=QUICK_HIDDEN if quick and hidden is None else hidden,
                           char_filters=char_filters, affix_dim=affix_dim, case_dim=case_dim,
                           variational=None if dropout_mask is None else dropout_mask == "sentence",
                           decode=decode, backend=backend, dtype=dtype or "float32"),
        train=TrainConfig(epochs=epochs or (QUICK_EPOCHS if quick and max_updates is None else None),
                          batch_size=pick(batch_size, training.batch_size),
                          optimizer=optimizer or training.optimizer, lr=lr or (QUICK_LR if quick else None),
                          patience=patience, max_updates=pick(max_updates, training.max_updates),
                          patience_updates=pick(patience_updates, training.patience_updates),
                          anneals=pick(anneals, training.anneals), unk_replace=pick(unk_replace, training.unk_replace),
                          word_unk=pick(word_unk, training.word_unk), lr_decay=pick(lr_decay, training.lr_decay),
                          restore_best=restore_best, average=pick(average, training.average), seed=seed),
        seeds=tuple(range(len(checkpoints))) if checkpoints else models,
        analysis=analysis,
        output=OutputOptions(out=str(out) if out else str(Path("runs") / f"{data}-{name}-seed{seed}"),
                             force=force, resume=resume, progress=not no_progress, jobs=jobs, cluster=cluster),
        quick=quick, force_analysis=bool(force_analysis), checkpoints=checkpoints)


# ------------------------------------------------------------ run.json


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class RunRecord(NamedTuple):
    """run.json read back."""

    options: RunOptions
    command: str
    package_version: str
    files: dict                  # split -> Path of its data file, found and checked
    checkpoints: dict            # given path -> Path of a --checkpoint model's .npz, checked
    pairs_file: Path | None = None   # the --pairs file, checked (None: generated pairs or none)


def write_run_json(out_dir, options, command, paths, checkpoints=None):
    """Write out_dir/run.json (atomically): the options, the command, the package version, every
    data file ({split: path}), every --checkpoint model ({given path: its .npz}) and the --pairs
    file, each with its SHA-256."""
    files = {split: {"path": str(Path(path).resolve()), "sha256": sha256_of(path)} for split, path in paths.items()}
    models = {str(given): {"path": str(Path(npz).resolve()), "sha256": sha256_of(npz)}
              for given, npz in (checkpoints or {}).items()}
    pairs = options.data.pairs
    atomic_write_json(Path(out_dir) / "run.json", {
        "format": RUN_FORMAT, "format_version": RUN_FORMAT_VERSION, "package_version": __version__,
        "command": command, "options": options.to_dict(), "data_files": files, "checkpoints": models,
        "pairs_file": None if pairs in (None, "generated") else {"path": str(Path(pairs).resolve()),
                                                                  "sha256": sha256_of(pairs)}})


def _find(split, recorded, run_dir, data_dir, kind):
    """The file of a split now: the recorded path, or the file of its name in ``data_dir``
    (or, for a generated corpus, in the run directory's data/ folder)."""
    path = Path(recorded["path"])
    if data_dir is not None:
        return Path(data_dir) / path.name
    if not path.is_file() and kind in GENERATED_KINDS:
        return Path(run_dir) / "data" / path.name
    return path


def read_run_json(run_dir, data_dir=None):
    """RunRecord of RUN_DIR/run.json, with every data file (the --pairs file too) found and its
    checksum checked.

    data_dir: where the data files are now, if they moved (matched by file name, and
    accepted only with the recorded SHA-256).  A run.json that is missing, broken or from
    a newer version raises RunFormatError; a data file that is gone DataNotFoundError;
    one whose content changed RunFormatError naming the file and both checksums.
    """
    path = Path(run_dir) / "run.json"
    if not path.is_file():
        raise RunFormatError(f"{path}: no such file (a run directory written by run.py has one; runs from before "
                             "run.json existed must be run again)")
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RunFormatError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(record, dict) or record.get("format") != RUN_FORMAT:
        raise RunFormatError(f"{path}: not a run.json of this package")
    version = record.get("format_version")
    if not isinstance(version, int) or version > RUN_FORMAT_VERSION:
        raise RunFormatError(f"{path}: written by lstm_numpy {record.get('package_version')} (run.json format "
                             f"{version}); this is lstm_numpy {__version__}, which reads format {RUN_FORMAT_VERSION}: "
                             "upgrade to read it")
    try:
        options = RunOptions.from_dict(record["options"])
        files = record["data_files"]
    except (KeyError, TypeError, ValueError) as err:
        raise RunFormatError(f"{path}: options this version cannot read ({err})") from None
    found = {}
    for split, recorded in files.items():
        now = _find(split, recorded, run_dir, data_dir, options.data.kind)
        if not now.is_file():
            hint = "pass --data-dir with the folder it moved to" if data_dir is None else f"not in {data_dir}"
            raise DataNotFoundError(f"{now}: no such file (the run's {split} data; {hint})")
        checksum = sha256_of(now)
        if checksum != recorded["sha256"]:
            raise RunFormatError(f"{now}: the {split} data changed since the run (SHA-256 {checksum[:12]}..., "
                                 f"run.json recorded {recorded['sha256'][:12]}... for {recorded['path']})")
        found[split] = now
    models = {}
    for given, recorded in (record.get("checkpoints") or {}).items():
        path = Path(recorded["path"])
        if not path.is_file():
            raise DataNotFoundError(f"{path}: no such file (the run's --checkpoint {given})")
        if sha256_of(path) != recorded["sha256"]:
            raise RunFormatError(f"{path}: the model changed since the run (its SHA-256 differs from run.json's)")
        models[given] = path
    pairs = record.get("pairs_file")
    if pairs is not None:
        moved = None if data_dir is None else Path(data_dir) / Path(pairs["path"]).name
        pairs = moved if moved is not None and moved.is_file() else Path(pairs["path"])    # beside the data, or where it was
        if not pairs.is_file():
            raise DataNotFoundError(f"{pairs}: no such file (the run's --pairs file)")
        if sha256_of(pairs) != record["pairs_file"]["sha256"]:
            raise RunFormatError(f"{pairs}: the --pairs file changed since the run (its SHA-256 differs from "
                                 "run.json's)")
    return RunRecord(options, record.get("command", ""), record.get("package_version", ""), found, models, pairs)


def replace(options, **changes):
    """A copy of a frozen record with some fields changed (dataclasses.replace)."""
    return dataclasses.replace(options, **changes)
