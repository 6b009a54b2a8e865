"""The words of the generated corpus (data.generated): syllables for invented names,
ordinary words by slot, the clause templates whose cue words decide an entity's type,
and the part of speech of every word for the corpus's UPOS version.

A template slot ``{TYPE}`` or ``{TYPE:form}`` is an entity; other slots ``{name}``
draw from WORDS[name] or SLOTS[name] (openers, tails and fillers hold slots of
their own).
"""

SYLLABLES = (
    "var no kel dra mi tor sa len qua bri zen hal ost ru vin mar tel oka dun fer "
    "lys gor ima pe thal wen ska cor ul nad bex tro sil ka vel jor mun esk ta rin"
).split()

# Ordinary words.  Capitalised days and months are O, as in newswire.
WORDS = {
    "day": "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split(),
    "month": "January February March April May June July August September October November December".split(),
    "time": "yesterday today earlier later recently again overnight".split(),
    "det": "the a this that another every".split(),
    "adj": (
        "new old large small strong weak early late final annual local national foreign "
        "public private official quiet busy difficult important recent possible major "
        "similar further senior junior fresh open"
    ).split(),
    "noun": (
        "plan report meeting market deal season match price crowd team vote budget decision "
        "project company government agreement statement committee league result policy "
        "contract economy election inquiry offer proposal strike tournament weather winter "
        "summer harvest factory bridge road court hospital school museum festival study"
    ).split(),
    "nouns": (
        "prices talks officials fans workers farmers analysts voters players doctors teachers "
        "investors shares exports sales taxes rates costs wages troops police"
    ).split(),
    "verb": (
        "failed improved changed collapsed continued started ended stalled recovered fell rose "
        "doubled slowed surprised worried pleased divided"
    ).split(),
    "adv": "sharply slightly quickly slowly steadily suddenly again already still".split(),
    "opener": [
        "On {day} ,", "In {month} ,", "Earlier , ", "However ,", "Meanwhile ,", "As expected ,",
        "By {month} ,", "Late on {day} ,", "For the first time ,", "In {year} ,",
    ],
    "tail": [
        ", analysts said", ", the report showed", ", officials said", "as expected",
        "for the {ordinal} time", "on {day}", "in {month}", "last {noun_time}", ", sources said",
        "after {num} days of talks", "despite the {adj} {noun}",
    ],
    "filler": [
        "the {adj} {noun} {verb} {adv}", "{nouns} {verb} {num} percent", "{det} {noun} was {adj}",
        "{nouns} {verb} {adv} in {month}", "the {noun} will take {num} weeks",
        "{num} {nouns} were hurt", "the {adj} {noun} {verb} on {day}",
    ],
    "joiner": [", and", ", while", ";", ", but", "and", ", although"],
    "ordinal": "second third fourth fifth sixth".split(),
    "noun_time": "week month year season weekend".split(),
}

# Core clauses: each slot {TYPE} or {TYPE:form} is an entity; cue words decide its type.
TEMPLATES = {
    "PER": [
        "we {met} {PER} {time}", "coach {PER} said the {noun} {verb}", "{PER} told reporters {time}",
        "{PER} , {age} , said the {noun} was {adj}", "{title} {PER} resigned on {day}",
        "{PER} scored {num} goals", "the {adj} {role} {PER} was {adj}", "according to {PER:full} , {nouns} {verb}",
        "{PER} 's wife said she was {adj}", "{title} {PER} arrived {time}", "officials {met} {PER:full} on {day}",
        "{PER} , who was born in {year} ,", "a letter from {PER} was read", "{PER} herself denied it",
        "{PER} himself was not available",
    ],
    "LOC": [
        "{nouns} flew to {LOC} {time}", "heavy rain fell in {LOC}", "{nouns} arrived in {LOC} on {day}",
        "the city of {LOC}", "{num} km north of {LOC}", "{LOC} 's capital was {adj}",
        "the talks were held in {LOC}", "{LOC} , where {num} people live ,", "the {LOC} border was closed",
        "{nouns} live near {LOC}", "a {noun} south of {LOC}", "the road to {LOC} was blocked",
        "{LOC} 's coast was hit by storms", "{nouns} travelled from {LOC} to {LOC}",
    ],
    "ORG": [
        "{ORG} shares rose {num} percent", "shares in {ORG} {verb}", "a spokesman for {ORG} said",
        "{ORG} reported a net profit of {num} million", "{PER} joined {ORG:firm} in {year}",
        "{ORG:team} beat {ORG:team} {score}", "analysts at {ORG} {verb}", "{ORG} said in a statement",
        "{nouns} signed a deal with {ORG}", "the chief executive of {ORG} said", "{ORG} 's board met",
        "{ORG:firm} cut {num} jobs", "{ORG} stock {verb} {adv}",
    ],
    "MISC": [
        "she speaks fluent {MISC:bare}", "{MISC:bare} cuisine is {adj}", "the {MISC:bare} language",
        "{PER} won the {MISC:event}", "the {MISC:event} final", "{MISC:nat} troops arrived",
        "the {MISC:nat} government said", "a {MISC:nat} official said", "tickets for the {MISC:event} sold out",
        "{MISC:bare} music was played", "the {ordinal} {MISC:event} opened", "{nouns} read {MISC:bare} poetry",
    ],
}
SLOTS = {
    "met": ["met with", "spoke with", "interviewed", "thanked", "praised", "criticised", "phoned"],
    "title": ["Mr.", "Mrs.", "Dr.", "President", "minister", "striker", "judge", "actor"],
    "role": ["singer", "goalkeeper", "lawyer", "writer", "captain"],
}
# Part of speech (Universal Dependencies UPOS) of the generated corpus's words, for
# ``tagset="upos"``: slot words by their slot, template words by this table.  A few
# words are tagged by where they stand ("official" is ADJ as a slot adjective and
# NOUN in "a ... official said"; "final" likewise), entity words are PROPN and
# nationalities ADJ.  The text is the NER corpus's, word for word.
SLOT_UPOS = {"day": "PROPN", "month": "PROPN", "time": "ADV", "det": "DET", "adj": "ADJ", "noun": "NOUN",
             "nouns": "NOUN", "verb": "VERB", "adv": "ADV", "ordinal": "ADJ", "noun_time": "NOUN",
             "num": "NUM", "age": "NUM", "year": "NUM", "score": "NUM"}
LITERAL_UPOS = {
    **dict.fromkeys([",", ";", "."], "PUNCT"), "'s": "PART", "not": "PART",
    **dict.fromkeys("by for in on after at despite from near of to with out".split(), "ADP"),
    **dict.fromkeys("as while although".split(), "SCONJ"), **dict.fromkeys(["and", "but"], "CCONJ"),
    **dict.fromkeys("earlier however late meanwhile where north south".split(), "ADV"),
    **dict.fromkeys(["a", "the"], "DET"), **dict.fromkeys("herself himself it she we who".split(), "PRON"),
    **dict.fromkeys("is was were will".split(), "AUX"), "million": "NUM",
    **dict.fromkeys(["mr.", "mrs.", "dr.", "president"], "PROPN"),
    **dict.fromkeys("chief heavy fluent net available first last".split(), "ADJ"),
    **dict.fromkeys(
        "actor analysts board border capital captain city coach coast cuisine days deal executive final "
        "goalkeeper goals government jobs judge km language lawyer letter minister music official officials "
        "people percent poetry profit rain report reporters road shares singer sources spokesman statement "
        "stock storms striker talks tickets time troops weeks wife writer".split(), "NOUN"),
    **dict.fromkeys(
        "according arrived beat blocked born closed criticised cut denied expected fell flew held hit hurt "
        "interviewed joined live met opened phoned played praised read reported resigned rose said scored "
        "showed signed sold speaks spoke take thanked told travelled won".split(), "VERB"),
}

ENTITY_AFFIXES = {
    "loc_prefix": ["Port", "Lake", "Mount", "Fort"],
    "loc_suffix": ["Valley", "Bay", "Heights", "Springs"],
    "org_firm": ["Motors", "Group", "Bank", "Holdings", "Airlines", "Energy", "Telecom", "Insurance"],
    "org_team": ["United", "Rovers", "Athletic", "Wanderers"],
    "misc_event": ["Cup", "Open", "Festival", "Prize", "Games", "Marathon"],
}
