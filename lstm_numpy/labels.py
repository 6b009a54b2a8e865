"""Label schemes, in one place: what a tag means, which scheme a corpus uses,
converting between schemes, where chunks start and end, which label may follow which.

A tag is ``"O"`` (outside), ``PREFIX-TYPE`` with PREFIX one of B, I, E, S
(``"B-PER"``), or a plain tag with no chunk meaning (UPOS ``"ADJ"``).

Schemes (:data:`SCHEMES`):

    iob1   ``I-X`` inside every entity; ``B-X`` only opens an entity that touches
           the previous entity of the same type (the original CoNLL-2003 release)
    iob2   ``B-X`` opens every entity, ``I-X`` continues it
    bioes  ``B-X`` opens, ``I-X`` continues, ``E-X`` closes, ``S-X`` is a one-token entity
    none   plain tags (part of speech): no chunks, no entity scores

Dimension legend: K labels; index K in the chunk tables is the "O" around a sentence.

Chunks are read as conlleval (CoNLL-2000 ``conlleval.pl``, with its BIOES
extension) reads them: :func:`start_of_chunk` and :func:`end_of_chunk` decide,
so IOB1, IOB2 and BIOES, well-formed or not, all have one reading.  Everything
else here (entities, tables, conversions, transitions) is built on those two.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

from .errors import LabelSchemeError

SCHEMES = ("iob1", "iob2", "bioes", "none")
CHUNK_PREFIXES = "BIES"
NOT_CHUNKING = "not a chunking task"     # what reports say instead of an entity score for plain tags


# ------------------------------------------------------------------ one tag


def split_tag(tag: str) -> tuple[str, str]:
    """``"B-PER" -> ("B", "PER")``, ``"O" -> ("O", "")``, a plain tag ``"ADJ" -> ("", "ADJ")``."""
    if tag == "O":
        return "O", ""
    if len(tag) > 2 and tag[1] == "-" and tag[0] in CHUNK_PREFIXES:
        return tag[0], tag[2:]
    return "", tag


def is_chunk_tag(tag: str) -> bool:
    """True for ``"O"`` and ``B-/I-/E-/S-<type>`` tags."""
    return split_tag(tag)[0] != ""


# ------------------------------------------------------------------ schemes


def scheme_of_names(label_names: Iterable[str]) -> str:
    """The scheme a label *set* allows: ``"bioes"``, ``"iob2"`` or ``"none"``.

    A set cannot tell IOB1 from IOB2 (the same tags, used differently), so
    B-/I- tags give ``"iob2"``: corpora are converted to IOB2 when read
    (:func:`detect_scheme`, :func:`convert`).  A set with no B-/I-/E-/S- tag
    is ``"none"``.  Chunk tags mixed with plain tags other than ``"O"``
    raise :class:`~lstm_numpy.errors.LabelSchemeError`.
    """
    prefixes, plain = set(), set()
    for name in label_names:
        prefix, _ = split_tag(name)
        (plain.add(name) if prefix == "" else prefixes.add(prefix))
    chunked = prefixes - {"O"}
    if chunked and plain:
        raise LabelSchemeError(
            f"labels mix chunk tags ({', '.join(sorted(chunked))}-<type>) with plain tags "
            f"({', '.join(sorted(plain)[:5])}); a tag set is either B-/I-/E-/S-<type> and O, or plain tags")
    if chunked & {"E", "S"}:
        return "bioes"
    return "iob2" if chunked else "none"


def is_chunking(label_names: Iterable[str]) -> bool:
    """True when the labels describe chunks (entities), so entity scores apply."""
    return scheme_of_names(label_names) != "none"


def detect_scheme(sequences: Iterable[Sequence[str]]) -> str:
    """The scheme of a corpus's label sequences: one of :data:`SCHEMES`.

    ``"none"`` for plain tags (or only ``"O"``); ``"bioes"`` when E-/S- tags
    occur; otherwise ``"iob1"`` when some ``I-X`` opens an entity (after
    ``"O"``, another type or at a sentence start) *and* every ``B-X`` follows
    an ``X`` tag, else ``"iob2"``.  So an IOB2 corpus with a few stray
    ``I-X`` (CoNLL-2003's training split has five) stays IOB2.
    """
    sequences = [list(seq) for seq in sequences]
    scheme = scheme_of_names({tag for seq in sequences for tag in seq})
    if scheme != "iob2":
        return scheme
    i_opens = b_opens = False
    for seq in sequences:
        prev_prefix, prev_type = "O", ""
        for tag in seq:
            prefix, type_ = split_tag(tag)
            touches = prev_prefix in ("B", "I") and prev_type == type_
            if prefix == "I" and not touches:
                i_opens = True
            elif prefix == "B" and not touches:
                b_opens = True
            prev_prefix, prev_type = prefix, type_
    return "iob1" if i_opens and not b_opens else "iob2"


def _check_scheme(scheme: str, allowed=SCHEMES) -> None:
    if scheme not in allowed:
        raise LabelSchemeError(f"scheme must be one of {', '.join(allowed)}; got {scheme!r}")


# ------------------------------------------------------------------ conversions


def iob1_to_iob2(tags: Sequence[str]) -> list[str]:
    """Every ``I-X`` that does not continue an ``X`` entity becomes ``B-X`` (IOB2 is left alone)."""
    out, prev_type = [], None
    for tag in tags:
        prefix, type_ = split_tag(tag)
        if prefix == "I" and prev_type != type_:
            tag = "B-" + type_
        out.append(tag)
        prev_type = type_ if prefix in ("B", "I") else None
    return out


def iob2_to_iob1(tags: Sequence[str]) -> list[str]:
    """``B-X`` becomes ``I-X`` unless it touches a previous ``X`` entity."""
    out, prev_type = [], None
    for tag in tags:
        prefix, type_ = split_tag(tag)
        if prefix == "B" and prev_type != type_:
            tag = "I-" + type_
        out.append(tag)
        prev_type = type_ if prefix in ("B", "I") else None
    return out


def iob2_to_bioes(tags: Sequence[str]) -> list[str]:
    """A lone ``B-X`` becomes ``S-X``, the last ``I-X`` of an entity ``E-X``."""
    out = []
    for t, tag in enumerate(tags):
        prefix, type_ = split_tag(tag)
        continues = t + 1 < len(tags) and tags[t + 1] == "I-" + type_
        if prefix == "B":
            tag = tag if continues else "S-" + type_
        elif prefix == "I":
            tag = tag if continues else "E-" + type_
        out.append(tag)
    return out


def bioes_to_iob2(tags: Sequence[str]) -> list[str]:
    """``S-X`` becomes ``B-X`` and ``E-X`` becomes ``I-X``."""
    replace = {"S": "B", "E": "I"}
    out = []
    for tag in tags:
        prefix, type_ = split_tag(tag)
        out.append(f"{replace[prefix]}-{type_}" if prefix in replace else tag)
    return out


def convert(tags: Sequence[str], source: str, target: str) -> list[str]:
    """One sentence's tags from scheme ``source`` to ``target`` (both in :data:`SCHEMES`).

    ``"none"`` converts to nothing but itself.  IOB1 and IOB2 sources go
    through :func:`iob1_to_iob2`, which also repairs a stray ``I-X`` the way
    conlleval reads it.
    """
    _check_scheme(source)
    _check_scheme(target)
    if source == target and source != "iob2":
        return list(tags)
    if "none" in (source, target):
        if source != target:
            raise LabelSchemeError(f"cannot convert {source} tags to {target}")
        return list(tags)
    iob2 = bioes_to_iob2(tags) if source == "bioes" else iob1_to_iob2(tags)
    if target == "iob2":
        return iob2
    return iob2_to_bioes(iob2) if target == "bioes" else iob2_to_iob1(iob2)


# ------------------------------------------------------------------ chunks (conlleval)


def end_of_chunk(prev_prefix: str, prefix: str, prev_type: str, type_: str) -> bool:
    """conlleval: did a chunk end between the previous token and this one?"""
    if prev_prefix in ("E", "S"):
        return True
    if prev_prefix in ("B", "I") and prefix in ("B", "S", "O"):
        return True
    return prev_prefix != "O" and prev_type != type_


def start_of_chunk(prev_prefix: str, prefix: str, prev_type: str, type_: str) -> bool:
    """conlleval: did a chunk start between the previous token and this one?"""
    if prefix in ("B", "S"):
        return True
    if prev_prefix in ("E", "S", "O") and prefix in ("E", "I"):
        return True
    return prefix != "O" and prev_type != type_


def _chunk_parts(tags: Iterable[str]) -> list[tuple[str, str]]:
    """(prefix, type) of each tag; a plain tag reads as "O" (it opens no chunk)."""
    return [("O", "") if prefix == "" else (prefix, type_) for prefix, type_ in map(split_tag, tags)]


def extract_entities(tags: Sequence[str]) -> set[tuple[str, int, int]]:
    """Entities of one sentence as a set of ``(type, start, end)``, ``end`` exclusive.

    The sentence is taken to be surrounded by "O", so an entity running to
    the last token is closed there.  Plain tags hold no entities.
    """
    entities = set()
    prev_prefix, prev_type = "O", ""
    start = None
    for position, (prefix, type_) in enumerate(_chunk_parts(tags) + [("O", "")]):
        if start is not None and end_of_chunk(prev_prefix, prefix, prev_type, type_):
            entities.add((prev_type, start, position))
            start = None
        if start_of_chunk(prev_prefix, prefix, prev_type, type_):
            start = position
        prev_prefix, prev_type = prefix, type_
    return entities


def entity_types(label_names: Iterable[str]) -> list[str]:
    """The sorted entity types of a label set (``[]`` for plain tags)."""
    return sorted({type_ for prefix, type_ in _chunk_parts(label_names) if prefix != "O"})


class ChunkTables(NamedTuple):
    """conlleval's rules as lookup tables over label ids (index K is the "O" outside a sentence)."""

    starts: np.ndarray    # (K+1, K+1) bool: [prev, cur] a chunk starts at cur
    ends: np.ndarray      # (K+1, K+1) bool: [cur, next] a chunk ends after cur
    type_ids: np.ndarray  # (K+1,) int64 index into types, -1 for O (and plain tags)
    types: list           # sorted entity types


def chunk_tables(label_names: Sequence[str]) -> ChunkTables:
    """:class:`ChunkTables` of a label set, from :func:`start_of_chunk` / :func:`end_of_chunk`.

    For plain tags (scheme none) no chunk ever starts or ends.
    """
    parts = _chunk_parts(label_names) + [("O", "")]
    types = entity_types(label_names)
    type_ids = np.array([types.index(t) if p != "O" else -1 for p, t in parts], dtype=np.int64)
    size = len(parts)
    starts = np.zeros((size, size), dtype=np.bool_)
    ends = np.zeros((size, size), dtype=np.bool_)
    for i, (prev_prefix, prev_type) in enumerate(parts):
        for j, (prefix, type_) in enumerate(parts):
            starts[i, j] = start_of_chunk(prev_prefix, prefix, prev_type, type_)
            ends[i, j] = prev_prefix != "O" and end_of_chunk(prev_prefix, prefix, prev_type, type_)
    return ChunkTables(starts, ends, type_ids, types)


# ------------------------------------------------------------------ transitions


class Transitions(NamedTuple):
    """Which label sequences a scheme allows, for constrained decoding."""

    start: np.ndarray    # (K,) bool: label may open a sentence
    allowed: np.ndarray  # (K, K) bool: [prev, cur] may follow each other
    end: np.ndarray      # (K,) bool: label may close a sentence
    scheme: str          # "iob2", "bioes" or "none"


def transitions(label_names: Sequence[str]) -> Transitions:
    """The well-formed sequences of a label set's scheme (:func:`scheme_of_names`).

    IOB2: ``I-X`` only after ``B-X`` or ``I-X``, and not first in a sentence.
    BIOES: also ``E-X`` only after ``B-X``/``I-X``; after ``B-X``/``I-X`` only
    ``I-X``/``E-X``; a sentence ends with ``O``/``E-``/``S-``.
    Plain tags (``"none"``): everything is allowed.
    """
    scheme = scheme_of_names(label_names)
    parts = [split_tag(name) for name in label_names]
    K = len(parts)
    start, allowed, end = np.ones(K, bool), np.ones((K, K), bool), np.ones(K, bool)
    if scheme == "none":
        return Transitions(start, allowed, end, scheme)
    for j, (cur, cur_type) in enumerate(parts):
        inside = cur in ("I", "E")  # continues a chunk opened earlier
        start[j] = not inside
        if scheme == "bioes":
            end[j] = cur in ("O", "E", "S")
        for i, (prev, prev_type) in enumerate(parts):
            prev_open = scheme == "bioes" and prev in ("B", "I")
            if inside:
                allowed[i, j] = prev in ("B", "I") and prev_type == cur_type
            elif prev_open:   # BIOES: an open chunk must be continued or closed
                allowed[i, j] = False
    return Transitions(start, allowed, end, scheme)
