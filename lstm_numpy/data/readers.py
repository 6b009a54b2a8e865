"""Readers for tagged text: CoNLL columns, CoNLL-U, and plain ``token<TAB>label``.

Every reader returns a :class:`Corpus` (``sentences[i][t]`` is a token and
``labels[i][t]`` its label).  Nothing is dropped silently: a malformed line
raises :class:`~lstm_numpy.errors.DataFormatError` naming the file, the
1-based line number and what was expected.  CRLF line endings and a UTF-8 BOM
are accepted; undecodable bytes name their line and byte offset.

Label schemes: IOB1 (``B-`` only between two touching entities of one type),
IOB2 (``B-`` opens every entity) and BIOES (``S-`` single, ``E-`` last token).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from lstm_numpy.atomic import atomic_write_text
from lstm_numpy.errors import DataFormatError

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


def _split_label(label: str) -> tuple[str, str]:
    """``"B-PER" -> ("B", "PER")``, ``"O" -> ("O", "")``; other labels keep prefix ``""``."""
    if len(label) > 2 and label[1] == "-" and label[0] in "BIES":
        return label[0], label[2:]
    return ("O", "") if label == "O" else ("", label)


def iob1_to_iob2(labels: Sequence[str]) -> list[str]:
    """Turn every ``I-X`` that does not continue an ``X`` entity into ``B-X``."""
    out, prev_type = [], None
    for label in labels:
        prefix, kind = _split_label(label)
        if prefix == "I" and prev_type != kind:
            label = "B-" + kind
        out.append(label)
        prev_type = kind if prefix in ("B", "I") else None
    return out


def iob2_to_bioes(labels: Sequence[str]) -> list[str]:
    """IOB2 -> BIOES: a lone ``B-X`` becomes ``S-X``, the last ``I-X`` ``E-X``."""
    out = []
    for t, label in enumerate(labels):
        prefix, kind = _split_label(label)
        continues = t + 1 < len(labels) and labels[t + 1] == "I-" + kind
        if prefix == "B":
            label = label if continues else "S-" + kind
        elif prefix == "I":
            label = label if continues else "E-" + kind
        out.append(label)
    return out


def _apply_scheme(labels: list[str], scheme: str | None) -> list[str]:
    if scheme is None:
        return labels
    labels = iob1_to_iob2(labels)
    return iob2_to_bioes(labels) if scheme == "bioes" else labels


def _check_scheme(scheme):
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")


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
            self.labels.append(_apply_scheme(self.tags, self.scheme))
            self.words, self.tags = [], []

    def corpus(self):
        self.end()
        return _finish(self.path, self.sentences, self.labels)


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
    ``scheme="iob2"`` repairs IOB1 tags, ``"bioes"`` also converts to BIOES,
    ``None`` keeps the column as written (use it for POS or chunk columns).
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
    """Where the CoNLL-2003 copy lives: ``$LSTM_NUMPY_CONLL2003``, else ``<repo>/../shared/data/conll2003``."""
    override = os.environ.get(CONLL2003_ENV)
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data" / "conll2003"


def load_conll2003(directory: str | os.PathLike | None = None, scheme: str | None = "iob2") -> dict[str, Corpus]:
    """``{"train", "valid", "test"} -> Corpus`` from ``<split>.txt`` (word POS chunk NER)."""
    directory = Path(directory) if directory is not None else default_conll2003_dir()
    missing = [s for s in CONLL2003_SPLITS if not (directory / f"{s}.txt").is_file()]
    if missing:
        raise FileNotFoundError(
            f"CoNLL-2003 not found at {directory} (missing {', '.join(s + '.txt' for s in missing)}); "
            f"set {CONLL2003_ENV} to its directory"
        )
    return {s: read_conll(directory / f"{s}.txt", n_columns=4, scheme=scheme) for s in CONLL2003_SPLITS}
