"""Readers: CoNLL columns, CoNLL-U, token<TAB>label, the writer, and the CoNLL-2003 copy."""

import os
from pathlib import Path

import pytest

from lstm_numpy.data.readers import (
    Corpus,
    default_conll2003_dir,
    load_conll2003,
    read_conll,
    read_conllu,
    read_token_label,
    write_conll,
)
from lstm_numpy.errors import DataFormatError
from lstm_numpy.labels import iob1_to_iob2, iob2_to_bioes

CONLL_TEXT = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- -X- O

BRUSSELS NNP B-NP B-LOC
"""


def write(tmp_path, name, text, encoding="utf-8", prefix=b""):
    path = tmp_path / name
    path.write_bytes(prefix + text.encode(encoding))
    return path


def test_conll_sentences_docstart_and_columns(tmp_path):
    corpus = read_conll(write(tmp_path, "train.txt", CONLL_TEXT))
    assert corpus.sentences == [["EU", "rejects", "German", "call"], ["Peter", "Blackburn"], ["BRUSSELS"]]
    assert corpus.labels == [["B-ORG", "O", "B-MISC", "O"], ["B-PER", "I-PER"], ["B-LOC"]]
    chunks = read_conll(tmp_path / "train.txt", label_column=2, scheme=None)
    assert chunks.labels[0] == ["B-NP", "B-VP", "B-NP", "I-NP"]
    pos = read_conll(tmp_path / "train.txt", label_column=1, scheme=None)
    assert pos.labels[1] == ["NNP", "NNP"]
    summary = corpus.summary()
    assert summary["sentences"] == 3 and summary["tokens"] == 7
    assert summary["label_counts"] == {"B-LOC": 1, "B-MISC": 1, "B-ORG": 1, "B-PER": 1, "I-PER": 1, "O": 2}
    assert summary["path"].endswith("train.txt")


def test_conll_crlf_bom_and_no_trailing_newline(tmp_path):
    text = CONLL_TEXT.replace("\n", "\r\n").rstrip()
    corpus = read_conll(write(tmp_path, "crlf.txt", text, prefix=b"\xef\xbb\xbf"))
    assert corpus.sentences[0][0] == "EU"  # no BOM glued to the first token
    assert corpus.labels[-1] == ["B-LOC"]  # no "\r" glued to the last label
    assert corpus.n_tokens == 7


def test_conll_wrong_column_count_names_file_and_line(tmp_path):
    text = "EU NNP B-NP B-ORG\nrejects VBZ O\n"
    with pytest.raises(DataFormatError, match=r"train\.txt line 2: expected 4 columns, got 3"):
        read_conll(write(tmp_path, "train.txt", text))
    with pytest.raises(DataFormatError, match=r"one\.txt line 2: expected at least 2 columns"):
        read_conll(write(tmp_path, "one.txt", "\nlonely\n"))
    with pytest.raises(DataFormatError, match=r"line 1: label_column=5"):
        read_conll(write(tmp_path, "two.txt", "a O\n"), label_column=5)


def test_conll_empty_file_and_bad_bytes(tmp_path):
    with pytest.raises(DataFormatError, match=r"no sentences in .*empty\.txt"):
        read_conll(write(tmp_path, "empty.txt", "-DOCSTART- -X- -X- O\n\n\n"))
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"a O\n\nb O\ncaf\xe9 O\n")
    with pytest.raises(DataFormatError, match=r"latin1\.txt line 4: invalid UTF-8 byte .* byte offset 12"):
        read_conll(path)


def test_iob1_repair_and_bioes():
    # true IOB1: I- opens entities, B- only between touching entities of one type
    iob1 = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG", "I-ORG"]
    iob2 = ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG", "I-ORG"]
    assert iob1_to_iob2(iob1) == iob2
    assert iob1_to_iob2(iob2) == iob2  # IOB2 is left alone
    assert iob2_to_bioes(iob2) == ["B-PER", "E-PER", "S-PER", "O", "S-LOC", "B-ORG", "E-ORG"]
    assert iob2_to_bioes(["B-X", "I-X", "I-X", "O"]) == ["B-X", "I-X", "E-X", "O"]


def test_conll_reader_repairs_and_converts(tmp_path):
    path = write(tmp_path, "iob1.txt", "Peter I-PER\nBlackburn I-PER\nin O\nJapan I-LOC\nFC I-ORG\n")
    assert read_conll(path).labels == [["B-PER", "I-PER", "O", "B-LOC", "B-ORG"]]
    assert read_conll(path, scheme="bioes").labels == [["B-PER", "E-PER", "O", "S-LOC", "S-ORG"]]
    assert read_conll(path, scheme=None).labels[0][0] == "I-PER"
    with pytest.raises(ValueError, match="scheme"):
        read_conll(path, scheme="iob3")


def test_write_conll_round_trip_and_atomic(tmp_path):
    sentences = [["Hello", "Varnok", "!"], ["x"]]
    labels = [["O", "B-PER", "O"], ["O"]]
    path = write_conll(tmp_path / "sub" / "out.txt", sentences, labels)
    assert read_conll(path) == Corpus(sentences, labels, str(path))
    assert [p.name for p in path.parent.iterdir()] == ["out.txt"]  # no temp file left behind
    with pytest.raises(ValueError, match="whitespace"):
        write_conll(tmp_path / "bad.txt", [["New York"]], [["B-LOC"]])
    with pytest.raises(ValueError, match="labels"):
        write_conll(tmp_path / "bad.txt", [["a", "b"]], [["O"]])
    assert not (tmp_path / "bad.txt").exists()


CONLLU_TEXT = """# sent_id = 1
# text = I don't know.
1\tI\tI\tPRON\tPRP\t_\t3\tnsubj\t_\t_
2-3\tdon't\t_\t_\t_\t_\t_\t_\t_\t_
2\tdo\tdo\tAUX\tVBP\t_\t3\taux\t_\t_
3\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t_\t_
3.1\tknows\t_\t_\t_\t_\t_\t_\t_\t_
4\tknow\tknow\tVERB\tVB\t_\t0\troot\t_\t_

# sent_id = 2
1\tYes\tyes\tINTJ\tUH\t_\t0\troot\t_\t_
"""


def test_conllu_skips_comments_ranges_and_empty_nodes(tmp_path):
    path = write(tmp_path, "ud.conllu", CONLLU_TEXT.replace("\n", "\r\n"), prefix=b"\xef\xbb\xbf")
    corpus = read_conllu(path)
    assert corpus.sentences == [["I", "do", "n't", "know"], ["Yes"]]
    assert corpus.labels == [["PRON", "AUX", "PART", "VERB"], ["INTJ"]]
    assert read_conllu(path, tag="xpos").labels[0] == ["PRP", "VBP", "RB", "VB"]
    with pytest.raises(ValueError, match="upos"):
        read_conllu(path, tag="deprel")


def test_conllu_malformed(tmp_path):
    bad = CONLLU_TEXT.replace("4\tknow\tknow\tVERB\tVB\t_\t0\troot\t_\t_", "4 know know VERB")
    with pytest.raises(DataFormatError, match=r"bad\.conllu line 8: expected 10 tab-separated columns, got 1"):
        read_conllu(write(tmp_path, "bad.conllu", bad))
    bad_id = "x\tI\tI\tPRON\tPRP\t_\t3\tnsubj\t_\t_\n"
    with pytest.raises(DataFormatError, match=r"id\.conllu line 1: expected an integer token ID"):
        read_conllu(write(tmp_path, "id.conllu", bad_id))
    with pytest.raises(DataFormatError, match="no sentences"):
        read_conllu(write(tmp_path, "c.conllu", "# only a comment\n\n"))


def test_token_label(tmp_path):
    path = write(tmp_path, "tl.tsv", "New York\tB-LOC\nis\tO\n\n\nok\tO\n")
    corpus = read_token_label(path)
    assert corpus.sentences == [["New York", "is"], ["ok"]]
    assert corpus.labels == [["B-LOC", "O"], ["O"]]
    with pytest.raises(DataFormatError, match=r"bad\.tsv line 2: expected 2 tab-separated columns"):
        read_token_label(write(tmp_path, "bad.tsv", "a\tO\nb O\n"))
    with pytest.raises(DataFormatError, match=r"three\.tsv line 1"):
        read_token_label(write(tmp_path, "three.tsv", "a\tO\tx\n"))
    with pytest.raises(DataFormatError, match="no sentences"):
        read_token_label(write(tmp_path, "blank.tsv", "\n \n"))


def test_default_conll2003_dir_env_override(monkeypatch, tmp_path):
    monkeypatch.delenv("LSTM_NUMPY_CONLL2003", raising=False)
    repo = Path(__file__).resolve().parents[1]
    assert default_conll2003_dir() == repo.parent / "shared" / "data" / "conll2003"
    monkeypatch.setenv("LSTM_NUMPY_CONLL2003", str(tmp_path))
    assert default_conll2003_dir() == tmp_path
    with pytest.raises(FileNotFoundError, match="CoNLL-2003 not found"):
        load_conll2003()


def conll2003_dir() -> Path:
    directory = Path(
        os.environ.get("LSTM_NUMPY_CONLL2003")
        or Path(__file__).resolve().parents[1].parent / "shared" / "data" / "conll2003"
    )
    if not (directory / "train.txt").is_file():
        pytest.skip(f"CoNLL-2003 not found at {directory}")
    return directory


def test_conll2003_counts():
    corpora = load_conll2003(conll2003_dir())
    expected = {"train": (14073, 203832), "valid": (3250, 51362), "test": (3453, 46435)}
    nine = {"O"} | {f"{p}-{t}" for p in "BI" for t in ("PER", "LOC", "ORG", "MISC")}
    for split, (n_sentences, n_tokens) in expected.items():
        summary = corpora[split].summary()
        assert (summary["sentences"], summary["tokens"]) == (n_sentences, n_tokens), split
        assert set(summary["label_counts"]) == nine, split


def test_conll_explicit_column_count(tmp_path):
    path = write(tmp_path, "two.txt", "a O\nb B-PER\n")
    with pytest.raises(DataFormatError, match=r"two\.txt line 1: expected 4 columns, got 2"):
        read_conll(path, n_columns=4)
    with pytest.raises(DataFormatError, match=r"two\.txt line 1: label_column=7"):
        read_conll(path, n_columns=2, label_column=7)
    assert read_conll(path, n_columns=2).labels == [["O", "B-PER"]]
