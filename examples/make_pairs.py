"""Writes examples/de-en-small.tsv: 300 German-English sentence pairs built
from a few hand-written phrases, the small table of the README's "Train on
your own data" (a TSV with a header `source<TAB>target`).

    python examples/make_pairs.py
"""

import itertools
import random
from pathlib import Path

# German noun phrase (nominative, accusative) -> English
SUBJECTS = {
    ("Der Hund", "den Hund"): "The dog",
    ("Die Katze", "die Katze"): "The cat",
    ("Der Mann", "den Mann"): "The man",
    ("Die Frau", "die Frau"): "The woman",
    ("Das Kind", "das Kind"): "The child",
    ("Der Junge", "den Jungen"): "The boy",
    ("Das Mädchen", "das Mädchen"): "The girl",
    ("Der Lehrer", "den Lehrer"): "The teacher",
    ("Die Ärztin", "die Ärztin"): "The doctor",
    ("Der Koch", "den Koch"): "The cook",
}
# (German verb, English verb) with the object they take
ACTIONS = [
    ("sieht", "sees"), ("sucht", "looks for"), ("ruft", "calls"), ("mag", "likes"), ("hört", "hears"),
]
PLACES = [
    ("im Park", "in the park"), ("am Strand", "on the beach"), ("im Garten", "in the garden"),
    ("auf der Straße", "on the street"), ("im Schnee", "in the snow"), ("am Fluss", "by the river"),
]


def pairs():
    rows = []
    for (subject, object_), (verb, verb_en), (place, place_en) in itertools.product(
        itertools.combinations(SUBJECTS, 2), ACTIONS, PLACES
    ):
        rows.append((f"{subject[0]} {verb} {object_[1]} {place}.",
                     f"{SUBJECTS[subject]} {verb_en} {SUBJECTS[object_].lower()} {place_en}."))
    random.Random(0).shuffle(rows)
    return rows[:300]


if __name__ == "__main__":
    path = Path(__file__).resolve().parent / "de-en-small.tsv"
    path.write_text("source\ttarget\n" + "".join(f"{s}\t{t}\n" for s, t in pairs()), encoding="utf-8")
    print(f"wrote {path}")
