"""Data: readers, vocabularies, the generated corpus, batching and the baseline."""

from lstm_numpy.data.baseline import entity_f1, most_frequent_label_baseline
from lstm_numpy.data.batching import make_batches, pad_batch
from lstm_numpy.data.generated import (
    ENTITY_TYPES,
    build_lexicon,
    generate_corpus,
    generate_sentences,
    load_generated,
)
from lstm_numpy.data.readers import (
    Corpus,
    default_conll2003_dir,
    iter_lines,
    load_conll2003,
    read_conll,
    read_conllu,
    read_token_label,
    write_conll,
)
from lstm_numpy.data.vocab import (
    AFFIXES,
    CASES,
    PAD,
    PAD_ID,
    UNK,
    UNK_ID,
    AffixVocab,
    CharVocab,
    LabelVocab,
    Vocab,
    case_ids,
    load_glove,
    replace_singletons,
)

__all__ = [
    "AFFIXES", "CASES", "ENTITY_TYPES", "PAD", "PAD_ID", "UNK", "UNK_ID",
    "AffixVocab", "CharVocab", "Corpus", "LabelVocab", "Vocab",
    "build_lexicon", "case_ids", "default_conll2003_dir", "entity_f1",
    "generate_corpus", "generate_sentences", "iter_lines",
    "load_conll2003", "load_generated", "load_glove", "make_batches", "most_frequent_label_baseline",
    "pad_batch", "read_conll", "read_conllu", "read_token_label", "replace_singletons", "write_conll",
]
