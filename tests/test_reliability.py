"""Bad input: fuzzed readers, unknown labels, empty and extreme sizes."""
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstm_numpy.data.batching import Batch
from lstm_numpy.data.readers import Corpus, read_conll, read_conllu, read_token_label, write_conll
from lstm_numpy.errors import DataFormatError, LabelSchemeError
from lstm_numpy.model.tagger import TaggerConfig, init_tagger, tagger_loss_and_grads
from lstm_numpy.pipeline import prepare

READERS = {
    "conll": lambda p: read_conll(p),
    "conll_raw": lambda p: read_conll(p, scheme=None),
    "conll_bioes": lambda p: read_conll(p, scheme="bioes"),
    "conllu": lambda p: read_conllu(p),
    "token_label": lambda p: read_token_label(p),
}

# pieces that real broken files are made of
fragments = st.sampled_from([
    "EU B-ORG", "rejects O", "German B-MISC", "call I-MISC", ".", "\t", " ", "\r\n", "\n", "\n\n",
    "-DOCSTART- -X- -X- O", "a b c", "x\ty", "1\tThe\tthe\tDET\tDT\t_\t2\tdet\t_\t_",
    "3-4\tdel\t_\t_\t_\t_\t_\t_\t_\t_", "5.1\tx\t_\t_\t_\t_\t_\t_\t_\t_", "# sent_id = 1", "B-", "I-X", "O",
    "\ufeff", "é", "\x00", "x" * 5000,
])
texts = st.lists(st.one_of(fragments, st.text(max_size=20)), max_size=30).map("".join)
raw_bytes = st.one_of(st.binary(max_size=200), texts.map(lambda t: t.encode("utf-8")),
                      st.tuples(texts, st.binary(min_size=1, max_size=4), texts).map(
                          lambda p: p[0].encode() + p[1] + p[2].encode()))


@settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=raw_bytes, reader=st.sampled_from(sorted(READERS)))
def test_every_reader_parses_or_names_file_and_line(tmp_path, data, reader):
    path = tmp_path / "fuzz.txt"
    path.write_bytes(data)
    try:
        corpus = READERS[reader](path)
    except DataFormatError as err:
        message = str(err)
        assert str(path) in message
        # a label set that fits no scheme is about the whole file, not one line
        assert "line" in message or message.startswith("no sentences") or isinstance(err, LabelSchemeError)
        if "UTF-8" in message:
            assert "byte offset" in message
        return
    assert isinstance(corpus, Corpus) and len(corpus) > 0
    assert all(len(w) == len(t) > 0 for w, t in zip(corpus.sentences, corpus.labels))


token = st.text(alphabet=st.characters(blacklist_categories=("Z", "C")), min_size=1, max_size=8)
label = st.sampled_from(["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "NOUN", "VERB"])


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.tuples(token, label), min_size=1, max_size=12), min_size=1, max_size=8))
def test_written_corpus_reads_back_identically(tmp_path, sentences):
    words = [[w for w, _ in s] for s in sentences]
    tags = [[t for _, t in s] for s in sentences]
    path = write_conll(tmp_path / "corpus.txt", words, tags)
    corpus = read_conll(path, scheme=None)
    assert corpus.sentences == words and corpus.labels == tags


@pytest.mark.parametrize("content", [b"", b"\n\n\n", b"\xef\xbb\xbf", b"-DOCSTART- -X- -X- O\n\n"])
def test_files_with_no_sentences_are_rejected_clearly(tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(DataFormatError, match="no sentences in .*empty.txt"):
        read_conll(path)


def test_crlf_and_bom_read_like_plain_files(tmp_path):
    plain, windows = tmp_path / "plain.txt", tmp_path / "windows.txt"
    plain.write_bytes(b"EU B-ORG\nrejects O\n\nPeter B-PER\n")
    windows.write_bytes(b"\xef\xbb\xbfEU B-ORG\r\nrejects O\r\n\r\nPeter B-PER\r\n")
    assert read_conll(plain).sentences == read_conll(windows).sentences
    assert read_conll(plain).labels == read_conll(windows).labels


def corpus(sentences):
    return Corpus([[w for w, _ in s] for s in sentences], [[t for _, t in s] for s in sentences], "mem.txt")


def test_label_unseen_in_training_is_an_error_by_default_or_mapped_with_a_warning():
    splits = {"train": corpus([[("EU", "B-ORG"), ("rejects", "O")]]),
              "dev": corpus([[("Peter", "B-PER")]]),
              "test": corpus([[("EU", "B-ORG")]])}
    with pytest.raises(ValueError, match=r"mem.txt: labels \['B-PER'\] never occur in the training split"):
        prepare(splits)
    with pytest.warns(UserWarning, match="B-PER"):
        prepared = prepare(splits, unknown_labels="O")
    assert prepared.labels.decode(prepared.splits["dev"].labels[0]) == ["O"]


@pytest.mark.parametrize("length", [1, 2000])
def test_one_token_and_two_thousand_token_sentences_train(length):
    rng = np.random.default_rng(0)
    config = TaggerConfig(vocab_size=20, n_labels=3, word_dim=4, hidden=3, bidirectional=True,
                          dropout=0.5, backend="numba", dtype="float32")
    params = init_tagger(config, rng)
    ids = rng.integers(0, 20, size=(2, length))
    mask = np.ones((2, length), bool)
    mask[1, length // 2 + 1:] = False
    batch = Batch(ids, mask, rng.integers(0, 3, size=(2, length)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # no overflow or invalid-value warnings
        loss, grads, z = tagger_loss_and_grads(params, config, batch, rng)
    assert np.isfinite(loss) and all(np.all(np.isfinite(g if isinstance(g, np.ndarray) else g.values))
                                     for g in grads.values())
