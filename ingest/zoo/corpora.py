"""Deterministic generated text corpora for the model zoo (no third-party text).

Each corpus is drawn from a small grammar: a topic (its own nouns, verbs, adjectives and
places) and a style (plain statements, question-and-answer, lists, dialogue). Models trained
or fine-tuned on different corpora learn visibly different text, which is what the zoo
needs so that children differ from their parents and siblings differ from each other.

Cost: O(n_docs) string work; 2,000 documents take a few milliseconds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from kb.errors import InputError


@dataclass(frozen=True)
class Topic:
    """Word lists of one topic; the grammar fills its templates from them."""

    name: str
    nouns: tuple[str, ...]
    verbs: tuple[str, ...]
    adjectives: tuple[str, ...]
    places: tuple[str, ...]


TOPICS: dict[str, Topic] = {
    t.name: t
    for t in (
        Topic(
            "animals",
            ("cat", "dog", "fox", "owl", "horse", "rabbit", "bird", "wolf", "bear", "goat"),
            ("runs", "sleeps", "jumps", "hunts", "eats", "hides", "sings", "swims"),
            ("small", "quick", "brown", "quiet", "wild", "old", "happy", "tired"),
            ("the forest", "the farm", "the field", "the river", "the hill", "the barn"),
        ),
        Topic(
            "cooking",
            ("soup", "bread", "rice", "cake", "sauce", "pie", "salad", "tea", "cheese", "egg"),
            ("bakes", "boils", "cuts", "mixes", "tastes", "serves", "fries", "stirs"),
            ("hot", "sweet", "fresh", "salty", "warm", "spicy", "soft", "golden"),
            ("the kitchen", "the oven", "the market", "the table", "the pot", "the bakery"),
        ),
        Topic(
            "space",
            ("star", "moon", "planet", "rocket", "comet", "orbit", "probe", "sun", "crew", "ship"),
            ("orbits", "shines", "flies", "lands", "spins", "glows", "drifts", "launches"),
            ("bright", "distant", "cold", "huge", "dark", "silver", "red", "ancient"),
            ("the sky", "the station", "the void", "the galaxy", "the crater", "the launch pad"),
        ),
        Topic(
            "sea",
            ("boat", "wave", "fish", "sailor", "shell", "whale", "anchor", "storm", "net", "gull"),
            ("sails", "floats", "dives", "rows", "waits", "drifts", "crashes", "fishes"),
            ("blue", "deep", "salty", "calm", "rough", "green", "wet", "strong"),
            ("the harbor", "the beach", "the bay", "the island", "the dock", "the reef"),
        ),
        Topic(
            "city",
            ("bus", "train", "shop", "street", "tower", "bridge", "park", "clerk", "car", "lamp"),
            ("stops", "opens", "waits", "moves", "sells", "builds", "closes", "honks"),
            ("busy", "tall", "noisy", "new", "crowded", "grey", "modern", "narrow"),
            ("the square", "the station", "the corner", "the mall", "the avenue", "the office"),
        ),
        Topic(
            "music",
            ("song", "drum", "piano", "choir", "violin", "band", "note", "flute", "singer", "tune"),
            ("plays", "hums", "sings", "beats", "rings", "echoes", "dances", "practices"),
            ("loud", "gentle", "slow", "joyful", "sad", "lively", "soft", "sharp"),
            ("the hall", "the stage", "the studio", "the church", "the club", "the school"),
        ),
    )
}

STYLES = ("plain", "qa", "list", "dialogue")
_TIMES = ("in the morning", "at night", "every day", "after lunch", "in winter", "today")
_NAMES = ("Ada", "Ben", "Cleo", "Dan", "Eva", "Finn", "Gus", "Hana")


def _sentence(rng: random.Random, t: Topic) -> str:
    n, v, a, p = (rng.choice(t.nouns), rng.choice(t.verbs), rng.choice(t.adjectives),
                  rng.choice(t.places))
    form = rng.randrange(5)
    if form == 0:
        return f"The {a} {n} {v} in {p}."
    if form == 1:
        return f"A {n} {v} {rng.choice(_TIMES)}."
    if form == 2:
        return f"In {p}, the {n} is {a} and it {v}."
    if form == 3:
        return f"The {n} {v} near the {a} {rng.choice(t.nouns)}."
    return f"{rng.choice(_NAMES)} saw a {a} {n} in {p}."


def _document(rng: random.Random, t: Topic, style: str) -> str:
    if style == "plain":
        return " ".join(_sentence(rng, t) for _ in range(rng.randint(2, 4)))
    if style == "qa":
        n, v, p = rng.choice(t.nouns), rng.choice(t.verbs), rng.choice(t.places)
        return f"Question: where does the {n} go? Answer: the {n} {v} in {p}."
    if style == "list":
        items = rng.sample(t.nouns, 3)
        return f"Things in {rng.choice(t.places)}: {items[0]}, {items[1]} and {items[2]}."
    if style == "dialogue":
        who = rng.sample(_NAMES, 2)
        n, a = rng.choice(t.nouns), rng.choice(t.adjectives)
        return f'{who[0]} said, "Look at the {a} {n}." {who[1]} said, "Yes, it {rng.choice(t.verbs)}."'
    raise InputError(f"unknown corpus style {style!r}; use one of {', '.join(STYLES)}")


def corpus(topics: tuple[str, ...] | list[str], n_docs: int, seed: int,
           styles: tuple[str, ...] | list[str] = ("plain",)) -> list[str]:
    """`n_docs` documents over the given topics and styles, identical for the same seed.

    >>> corpus(["animals"], 2, seed=1) == corpus(["animals"], 2, seed=1)
    True
    """
    unknown = [t for t in topics if t not in TOPICS]
    if unknown or not topics:
        raise InputError(f"unknown topic {unknown or topics!r}; use some of {', '.join(TOPICS)}")
    rng = random.Random(f"corpus:{seed}:{','.join(topics)}:{','.join(styles)}")
    return [_document(rng, TOPICS[rng.choice(list(topics))], rng.choice(list(styles)))
            for _ in range(n_docs)]


__all__ = ["TOPICS", "STYLES", "Topic", "corpus"]
