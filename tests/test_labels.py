"""lstm_numpy.labels: tag parsing, scheme detection, conversions, chunk tables, transitions.

Property tests draw random entity sets (non-overlapping typed spans), write
them in each scheme and check that every conversion keeps the entity set and
that detection names the scheme they were written in.
"""
import itertools

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from lstm_numpy.errors import LabelSchemeError
from lstm_numpy.labels import (
    chunk_tables,
    convert,
    detect_scheme,
    entity_types,
    extract_entities,
    iob1_to_iob2,
    is_chunking,
    scheme_of_names,
    split_tag,
    transitions,
)

TYPES = ("PER", "LOC", "ORG")


@st.composite
def entity_sets(draw, max_length=12):
    """(length, sorted [(type, start, end)]) with non-overlapping spans, possibly touching."""
    length = draw(st.integers(1, max_length))
    spans, t = [], 0
    while t < length:
        if draw(st.booleans()):
            end = draw(st.integers(t + 1, min(length, t + 4)))
            spans.append((draw(st.sampled_from(TYPES)), t, end))
            t = end
        else:
            t += 1
    return length, spans


def write(length, spans, scheme):
    """Tags of one sentence holding ``spans`` in ``scheme`` (iob1, iob2, bioes), written by hand."""
    tags = ["O"] * length
    previous_end, previous_type = None, None
    for type_, start, end in spans:
        for t in range(start, end):
            tags[t] = "I-" + type_
        touches = previous_end == start and previous_type == type_
        if scheme in ("iob2", "bioes") or touches:
            tags[start] = "B-" + type_
        if scheme == "bioes":
            if end - start == 1:
                tags[start] = "S-" + type_
            else:
                tags[end - 1] = "E-" + type_
        previous_end, previous_type = end, type_
    return tags


def test_split_tag():
    assert split_tag("B-PER") == ("B", "PER")
    assert split_tag("I-MISC-X") == ("I", "MISC-X")
    assert split_tag("O") == ("O", "")
    assert split_tag("ADJ") == ("", "ADJ")
    assert split_tag("B-") == ("", "B-")        # no type: a plain tag
    assert split_tag("X-PER") == ("", "X-PER")


@settings(max_examples=300, deadline=None)
@given(entity_sets())
@example((3, [("PER", 0, 1), ("PER", 1, 3)]))      # touching entities of one type: IOB1 needs B-
def test_every_conversion_keeps_the_entity_set(sentence):
    length, spans = sentence
    truth = set(spans)
    written = {scheme: write(length, spans, scheme) for scheme in ("iob1", "iob2", "bioes")}
    for scheme, tags in written.items():
        assert extract_entities(tags) == truth, (scheme, tags)
    for source, target in itertools.product(written, repeat=2):
        converted = convert(written[source], source, target)
        assert converted == written[target], (source, target, written[source], converted)
        assert extract_entities(converted) == truth


@settings(max_examples=200, deadline=None)
@given(st.lists(entity_sets(), min_size=1, max_size=6))
def test_detection_names_the_scheme_a_corpus_was_written_in(sentences):
    if not any(spans for _, spans in sentences):
        sentences = sentences + [(2, [("PER", 0, 2)])]      # an all-O corpus has no scheme to detect
    for scheme in ("iob1", "iob2", "bioes"):
        corpus = [write(length, spans, scheme) for length, spans in sentences]
        assert detect_scheme(corpus) == scheme, corpus


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]), min_size=1, max_size=10),
                min_size=1, max_size=5))
def test_any_iob_sequence_keeps_its_conlleval_reading_when_read_as_iob2(corpus):
    scheme = detect_scheme(corpus)
    assert scheme in ("iob1", "iob2", "none")
    for tags in corpus:
        assert extract_entities(iob1_to_iob2(tags)) == extract_entities(tags)
        if scheme != "none":
            assert extract_entities(convert(tags, scheme, "iob2")) == extract_entities(tags)


def test_detection_on_real_shapes():
    assert detect_scheme([["ADJ", "NOUN", "PUNCT"]]) == "none"
    assert detect_scheme([["O", "O"]]) == "none"
    # the original CoNLL-2003 release: I- opens entities, B- only where two of a type touch
    assert detect_scheme([["I-PER", "I-PER", "O", "I-LOC"], ["I-ORG", "B-ORG", "O"]]) == "iob1"
    # IOB2 with a stray I- after another type (CoNLL-2003 train has five) stays IOB2
    assert detect_scheme([["B-ORG", "I-PER", "O"], ["B-PER", "O", "B-LOC", "I-LOC"]]) == "iob2"
    assert detect_scheme([["S-PER", "O", "B-LOC", "E-LOC"]]) == "bioes"


def test_label_sets():
    assert scheme_of_names(["O", "B-PER", "I-PER"]) == "iob2"
    assert scheme_of_names(["O", "B-PER", "E-PER", "S-PER"]) == "bioes"
    assert scheme_of_names(["ADJ", "NOUN", "O"]) == "none"
    assert not is_chunking(["ADJ", "NOUN"]) and is_chunking(["O", "B-X"])
    assert entity_types(["O", "B-PER", "I-LOC", "I-PER"]) == ["LOC", "PER"]
    assert entity_types(["ADJ", "NOUN"]) == []
    with pytest.raises(LabelSchemeError, match="mix chunk tags"):
        scheme_of_names(["O", "B-PER", "ADJ"])
    with pytest.raises(LabelSchemeError, match="cannot convert"):
        convert(["ADJ"], "none", "iob2")


def test_chunk_tables_agree_with_extract_entities_on_every_pair():
    names = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "I-LOC"]
    tables = chunk_tables(names)
    extended = names + ["O"]
    for a, c in itertools.product(range(len(extended)), repeat=2):
        entities = extract_entities([extended[a], extended[c]])
        assert tables.starts[a, c] == any(start == 1 for _, start, _ in entities), (extended[a], extended[c])
        assert tables.ends[a, c] == any(end == 1 for _, _, end in entities), (extended[a], extended[c])
    assert tables.types == ["LOC", "PER"]
    assert list(tables.type_ids) == [-1, 1, 1, 1, 1, 0, -1]


def test_plain_tags_have_no_chunks_and_allow_every_transition():
    names = ["ADJ", "NOUN", "VERB"]
    tables = chunk_tables(names)
    assert not tables.starts.any() and not tables.ends.any() and (tables.type_ids == -1).all()
    assert extract_entities(names) == set()
    rules = transitions(names)
    assert rules.scheme == "none" and rules.allowed.all() and rules.start.all() and rules.end.all()


def test_iob2_transitions_by_hand():
    names = ["O", "B-PER", "I-PER", "I-LOC"]
    rules = transitions(names)
    allowed = {(names[i], names[j]) for i, j in zip(*np.nonzero(rules.allowed))}
    assert ("B-PER", "I-PER") in allowed and ("I-PER", "I-PER") in allowed
    assert ("O", "I-PER") not in allowed and ("B-PER", "I-LOC") not in allowed
    assert list(rules.start) == [True, True, False, False] and rules.end.all()
