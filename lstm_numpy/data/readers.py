"""Readers for tagged text: CoNLL columns, CoNLL-U, and plain ``token<TAB>label``.

Every reader returns a :class:`Corpus` (``sentences[i][t]`` is a token and
``labels[i][t]`` its label).  Nothing is dropped silently: a malformed line
raises :class:`~lstm_numpy.errors.DataFormatError` naming the file, the
1-based line number and what was expected.  CRLF line endings and a UTF-8 BOM
are accepted; undecodable bytes name their line and byte offset.

Labels are kept as written unless a reader is given a ``scheme`` to convert
to; :mod:`lstm_numpy.labels` knows the schemes (IOB1, IOB2, BIOES, none).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from lstm_numpy.atomic import atomic_write_text
from lstm_numpy.errors import DataFormatError, DataNotFoundError, LabelSchemeError
from lstm_numpy.labels import convert, detect_scheme

DOCSTART = "-DOCSTART-"
CONLL2003_ENV = "LSTM_NUMPY_CONLL2003"
CONLL2003_SPLITS = ("train", "valid", "test")
SCHEMES = ("iob2", "bioes", None)
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Corpus:
    """Sentences and their labels, aligned token by token, read from ``path``."""

    sentences: list[list[str]]
    labels: list[list[str]]
    path: str | None = None

    def __post_init__(self):
        if len(self.sentences) != len(self.labels):
            raise ValueError(f"{len(self.sentences)} sentences but {len(self.labels)} label sequences")
        for i, (words, tags) in enumerate(zip(self.sentences, self.labels)):
            if len(words) != len(tags):
                raise ValueError(f"sentence {i}: {len(words)} tokens but {len(tags)} labels")

    def __len__(self) -> int:
        return len(self.sentences)

    @property
    def n_tokens(self) -> int:
        return sum(len(words) for words in self.sentences)

    def summary(self) -> dict:
        """``{"path", "sentences", "tokens", "label_counts": {label: count}}``, labels sorted."""
        counts = Counter(tag for tags in self.labels for tag in tags)
        return {
            "path": self.path,
            "sentences": len(self.sentences),
            "tokens": self.n_tokens,
            "label_counts": dict(sorted(counts.items())),
        }


# --------------------------------------------------------------------------- lines


def iter_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` (1-based, without ``\\n``/``\\r\\n``) of a UTF-8 file.

    A leading BOM is skipped; bytes that are not UTF-8 raise DataFormatError
    naming the file, the line and the byte offset in the file.
    """
    offset = 0
    if not os.path.isfile(path):
        raise DataNotFoundError(f"{path}: no such file" + (" (it is a folder)" if os.path.isdir(path) else ""))
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            start = offset
            offset += len(raw)
            if number == 1 and raw.startswith(_BOM):
                raw, start = raw[len(_BOM):], start + len(_BOM)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise DataFormatError(
                    f"{path} line {number}: invalid UTF-8 byte {raw[err.start:err.start + 1]!r} "
                    f"at byte offset {start + err.start}"
                ) from None
            yield number, text.rstrip("\r\n")


def _finish(path, sentences, labels) -> Corpus:
    if not sentences:
        raise DataFormatError(f"no sentences in {path}")
    return Corpus(sentences, labels, str(path))


# --------------------------------------------------------------------------- label schemes


def _check_scheme(scheme):
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")


def _apply_scheme(path, sequences: list[list[str]], scheme: str | None) -> list[list[str]]:
    """The file's label sequences in ``scheme`` (None: as written), converted from the
    scheme :func:`~lstm_numpy.labels.detect_scheme` finds in the whole file."""
    if scheme is None:
        return sequences
    try:
        source = detect_scheme(sequences)
    except LabelSchemeError as err:         # about the file's whole label set, not one line
        raise LabelSchemeError(f"{path}: {err}") from None
    if source == "none":
        return sequences
    return [convert(seq, source, scheme) for seq in sequences]


# --------------------------------------------------------------------------- readers


class _Sentences:
    """Collects tokens into sentences as a reader walks a file: ``add`` a token,
    ``end`` at a sentence break, ``corpus`` at the end of the file."""

    def __init__(self, path, scheme=None):
        self.path, self.scheme = path, scheme
        self.sentences, self.labels, self.words, self.tags = [], [], [], []

    def add(self, word, tag):
        self.words.append(word)
        self.tags.append(tag)

    def end(self):
        if self.words:
            self.sentences.append(self.words)
            self.labels.append(self.tags)
            self.words, self.tags = [], []

    def corpus(self):
        self.end()
        return _finish(self.path, self.sentences, _apply_scheme(self.path, self.labels, self.scheme))


def read_conll(
    path: str | os.PathLike,
    label_column: int = -1,
    token_column: int = 0,
    n_columns: int | None = None,
    scheme: str | None = "iob2",
) -> Corpus:
    """Read whitespace-separated columns, one token a line, blank line between sentences.

    ``-DOCSTART-`` lines end a sentence and are skipped.  Every other line must
    have ``n_columns`` columns (default: as many as the first token line).
    ``scheme="iob2"`` converts the file's tags to IOB2 (from IOB1 or BIOES,
    detected over the whole file), ``"bioes"`` to BIOES, ``None`` keeps the
    column as written; plain tags (POS) are kept whatever ``scheme`` says.
    """
    _check_scheme(scheme)
    collected = _Sentences(path, scheme)
    checked = False
    for number, line in iter_lines(path):
        fields = line.split()
        if not fields or fields[0] == DOCSTART:
            collected.end()
            continue
        if not checked:
            if len(fields) < 2:
                raise DataFormatError(
                    f"{path} line {number}: expected at least 2 columns (token ... label), got 1"
                )
            n_columns, checked = n_columns or len(fields), True
            for name, column in (("label_column", label_column), ("token_column", token_column)):
                if not -n_columns <= column < n_columns:
                    raise DataFormatError(
                        f"{path} line {number}: {name}={column} but the file has {n_columns} columns"
                    )
        if len(fields) != n_columns:
            raise DataFormatError(f"{path} line {number}: expected {n_columns} columns, got {len(fields)}")
        collected.add(fields[token_column], fields[label_column])
    return collected.corpus()


def read_conllu(path: str | os.PathLike, tag: str = "upos") -> Corpus:
    """Read CoNLL-U: FORM with UPOS (``tag="upos"``) or XPOS (``tag="xpos"``) labels.

    ``#`` comment lines, multiword-token ranges (``3-4``) and empty nodes
    (``5.1``) are skipped; every other non-blank line has 10 tab-separated columns.
    """
    columns = {"upos": 3, "xpos": 4}
    if tag not in columns:
        raise ValueError(f"tag must be 'upos' or 'xpos', got {tag!r}")
    collected = _Sentences(path)
    for number, line in iter_lines(path):
        if not line.strip():
            collected.end()
            continue
        if line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 10:
            raise DataFormatError(
                f"{path} line {number}: expected 10 tab-separated columns, got {len(fields)}"
            )
        token_id = fields[0]
        if "-" in token_id or "." in token_id:
            continue
        if not token_id.isdigit():
            raise DataFormatError(
                f"{path} line {number}: expected an integer token ID, a range like 3-4 or an "
                f"empty node like 5.1 in column 1, got {token_id!r}"
            )
        label = fields[columns[tag]]
        if not fields[1] or not label:
            raise DataFormatError(f"{path} line {number}: expected a non-empty FORM and {tag.upper()}")
        collected.add(fields[1], label)
    return collected.corpus()


def read_token_label(path: str | os.PathLike, scheme: str | None = None) -> Corpus:
    """Read ``token<TAB>label`` lines, blank line between sentences (tokens may hold spaces)."""
    _check_scheme(scheme)
    collected = _Sentences(path, scheme)
    for number, line in iter_lines(path):
        if not line.strip():
            collected.end()
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0] or not fields[1]:
            raise DataFormatError(
                f"{path} line {number}: expected 2 tab-separated columns (token<TAB>label), "
                f"got {line!r}"
            )
        collected.add(fields[0], fields[1])
    return collected.corpus()


# --------------------------------------------------------------------------- writer


def write_conll(path: str | os.PathLike, sentences: Sequence[Sequence[str]], labels: Sequence[Sequence[str]]) -> Path:
    """Write ``token label`` lines, blank line after each sentence, atomically.

    The text goes to a temporary file in the same directory, then ``os.replace``
    moves it into place, so a reader never sees half a file.
    """
    Corpus([list(s) for s in sentences], [list(t) for t in labels])  # checks alignment
    for i, (words, tags) in enumerate(zip(sentences, labels)):
        if not words:
            raise ValueError(f"sentence {i} is empty")
        for item in (*words, *tags):
            if not item or item != "".join(item.split()):
                raise ValueError(f"sentence {i}: token or label {item!r} is empty or holds whitespace")
    path = Path(path)
    text = "".join(
        "".join(f"{w} {t}\n" for w, t in zip(words, tags)) + "\n" for words, tags in zip(sentences, labels)
    )
    atomic_write_text(path, text)
    return path


# --------------------------------------------------------------------------- CoNLL-2003


def default_conll2003_dir() -> Path:
    """Where the CoNLL-2003 copy lives: ``$LSTM_NUMPY_CONLL2003``, else ``../shared/data/conll2003``
    beside this checkout, else ``../shared/data/conll2003`` from the current directory
    (for an installed package), whichever exists first."""
    override = os.environ.get(CONLL2003_ENV)
    if override:
        return Path(override)
    beside_checkout = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "conll2003"
    from_cwd = Path.cwd().parent / "shared" / "data" / "conll2003"
    return next((d for d in (beside_checkout, from_cwd) if d.is_dir()), beside_checkout)


def load_conll2003(directory: str | os.PathLike | None = None, scheme: str | None = "iob2") -> dict[str, Corpus]:
    """``{"train", "valid", "test"} -> Corpus`` from ``<split>.txt`` (word POS chunk NER)."""
    directory = Path(directory) if directory is not None else default_conll2003_dir()
    missing = [s for s in CONLL2003_SPLITS if not (directory / f"{s}.txt").is_file()]
    if missing:
        raise DataNotFoundError(
            f"CoNLL-2003 not found at {directory} (missing {', '.join(s + '.txt' for s in missing)}); "
            f"set {CONLL2003_ENV} to its directory"
        )
    return {s: read_conll(directory / f"{s}.txt", n_columns=4, scheme=scheme) for s in CONLL2003_SPLITS}
