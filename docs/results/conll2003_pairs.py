"""Minimal pairs from CoNLL-2003 for activation patching: swap the one context word before an entity.

Usage (from the repository root):
    python docs/results/conll2003_pairs.py runs/conll2003_pairs.txt [--data-dir PATH] [--min-count N]
        [--purity P] [--any-token] [--unseen-name NAME] [--with-labels]

How (lstm_numpy.data.pairs.context_swap_pairs): in the training split, count the words that
come right before a one-token entity (outside any entity themselves); a word (two or more
letters, unless --any-token) is a *cue* of a type when it comes before at least --min-count
such entities (default 10), of that type at least --purity of the time (default 0.8). The strongest cue of a type is its most frequent.
Every one-token entity of the dev split that follows a cue of its own type gives one pair per
other type: the same sentence with the cue swapped for that type's strongest cue, read at the
entity. With --unseen-name the entity itself becomes a name the training split never has (in
both sentences), so that only the context can decide its type, as in the generated corpus;
otherwise a tagger mostly reads CoNLL-2003's names by heart. Without --with-labels the file
gives no labels and a run uses the pairs whose two sentences the model reads apart (as its
own readings decide); with it, the labels the cues predict (B-<type>, B-<other type>), and a
run uses the pairs the model reads that way. Prints how many cues and pairs it found. The file holds dev
sentences, so it is written where you say (runs/ by default), not into the repository.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from lstm_numpy.data.pairs import context_swap_pairs, write_pairs  # noqa: E402
from lstm_numpy.pipeline import load_splits, normalise_labels  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", help="the pair file to write")
    parser.add_argument("--data-dir", help="CoNLL-2003 folder (default ../shared/data/conll2003)")
    parser.add_argument("--min-count", type=int, default=10)
    parser.add_argument("--purity", type=float, default=0.8)
    parser.add_argument("--any-token", action="store_true",
                        help="let punctuation, digits and one-letter tokens be cues too")
    parser.add_argument("--unseen-name", metavar="NAME",
                        help="put this name (one the training split never has) in place of every entity read")
    parser.add_argument("--with-labels", action="store_true",
                        help="write the labels the cues predict (otherwise the model's readings decide)")
    args = parser.parse_args(argv)
    corpora, _ = normalise_labels(load_splits("conll2003", args.data_dir))     # IOB1 on disk, IOB2 here
    pairs, cues, strongest = context_swap_pairs(corpora["train"], corpora["dev"], args.min_count, args.purity,
                                                 not args.any_token)
    by_type = {}
    for word, (kind, count) in cues.items():
        by_type.setdefault(kind, []).append(f"{word} ({count})")
    print(f"cues ({'tokens' if args.any_token else 'words'} before >= {args.min_count} one-token entities of the "
          "training split, >= "
          f"{args.purity:.0%} of one type):")
    for kind in sorted(by_type):
        print(f"  {kind}: {', '.join(sorted(by_type[kind], key=lambda s: -int(s.split('(')[1][:-1])))}; "
              f"strongest {strongest[kind]!r}")
    entities = len({(tuple(p.clean), p.position) for p in pairs})
    if args.unseen_name:
        if any(args.unseen_name in tokens for tokens in corpora["train"].sentences):
            parser.error(f"--unseen-name {args.unseen_name}: the training split has that word")
        pairs = [p._replace(clean=_named(p.clean, p.position, args.unseen_name),
                            corrupted=_named(p.corrupted, p.position, args.unseen_name)) for p in pairs]
    if not args.with_labels:
        pairs = [p._replace(clean_label=None, corrupted_label=None) for p in pairs]
    print(f"{len(pairs)} pairs from {entities} one-token dev entities after a cue of their type")
    options = " ".join(a for a in (argv if argv is not None else sys.argv[1:]) if a != args.out)
    write_pairs(args.out, pairs, comment=f"{len(pairs)} pairs from CoNLL-2003 dev by docs/results/conll2003_pairs.py "
                                         + options)
    print(f"wrote {args.out}")


def _named(tokens, position, name):
    """tokens with the one at ``position`` replaced by ``name``."""
    return tokens[:position] + [name] + tokens[position + 1:]


if __name__ == "__main__":
    main()
