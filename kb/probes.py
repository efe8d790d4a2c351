"""The probe set: prompts every model answers; their responses become the model's DNA.

Prompts come from a small grammar over our own word lists (no third-party benchmark text): the LLM-DNA
paper's ablations found random-word / grammar prompts at least as informative as benchmark questions.
Twelve kinds are interleaved (instructions, questions, completions, lists, code, arithmetic, ...), so
any prefix of the file (`n_probes` < 600) is still varied.

The shipped file `kb/data/probes-v1.txt` is the generator's output (one prompt per line, UTF-8, \\n);
a test regenerates it and compares. The probe-set id is the sha256 of the file's bytes (16 hex).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from kb.errors import InputError

PROBE_FILE = "probes-v1.txt"
DEFAULT_SEED = 20260101
DEFAULT_COUNT = 600

_NOUNS = (
    "river", "lantern", "garden", "robot", "violin", "mountain", "library", "engine", "harbor", "forest",
    "bicycle", "teacher", "window", "planet", "market", "kettle", "island", "bridge", "painter", "clock",
    "desert", "ocean", "village", "castle", "notebook", "tiger", "orchard", "camera", "storm", "ladder",
    "mirror", "compass", "baker", "factory", "meadow", "rocket", "candle", "museum", "glacier", "farmer",
    "whistle", "pillow", "spider", "tunnel", "volcano", "sailor", "bakery", "telescope", "pebble", "wizard",
)
_ADJS = (
    "quiet", "bright", "ancient", "tiny", "curious", "broken", "golden", "hidden", "heavy", "gentle",
    "frozen", "noisy", "silver", "lonely", "rapid", "crooked", "friendly", "empty", "purple", "wild",
    "clever", "sleepy", "distant", "warm", "fragile", "strange", "busy", "hollow", "proud", "simple",
)
_VERBS = (
    "builds", "paints", "carries", "forgets", "watches", "repairs", "follows", "sells", "finds", "hides",
    "teaches", "measures", "climbs", "cleans", "borrows", "draws", "opens", "counts", "guards", "plants",
)
_BASE_VERBS = (
    "describe", "explain", "compare", "summarize", "imagine", "list", "define", "praise", "criticize",
    "classify",
)
_NAMES = (
    "Ada", "Bruno", "Chen", "Dara", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kemal", "Lena",
    "Mira", "Nils", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera", "Wen", "Yusuf",
)
_PLACES = (
    "the old harbor", "a small village", "the top of a hill", "an empty station", "the city market",
    "a snowy valley", "the school yard", "a crowded train", "the riverbank", "a quiet library",
)
_TOPICS = (
    "rain", "friendship", "electricity", "bread", "maps", "sleep", "music", "gravity", "money", "winter",
    "honey", "volcanoes", "clouds", "memory", "bridges", "salt", "languages", "chess", "tides", "soap",
)
_COLORS = ("red", "blue", "green", "yellow", "black", "white", "orange", "grey")
_ANIMALS = ("cat", "dog", "owl", "horse", "fox", "whale", "ant", "goat", "crow", "bear", "frog", "bee")
_FUNCS = (
    ("reverse a string", "reverse_text"), ("count the vowels in a word", "count_vowels"),
    ("return the largest number in a list", "largest"), ("check whether a number is even", "is_even"),
    ("add two numbers", "add"), ("square every item of a list", "squares"),
    ("join words with commas", "join_words"), ("find the first repeated letter", "first_repeat"),
    ("convert Celsius to Fahrenheit", "to_fahrenheit"), ("sum the digits of an integer", "digit_sum"),
)
_LANGS = ("Python", "JavaScript", "C", "Rust", "Go", "SQL")


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _instruction(r: random.Random) -> str:
    return r.choice((
        lambda: f"Write a short poem about {_a(r.choice(_ADJS))} {r.choice(_NOUNS)}.",
        lambda: f"{r.choice(_BASE_VERBS).capitalize()} {_a(r.choice(_NOUNS))} in two sentences.",
        lambda: f"Give three tips for taking care of {_a(r.choice(_ANIMALS))}.",
        lambda: f"Write a friendly note from {r.choice(_NAMES)} to {r.choice(_NAMES)} about {r.choice(_TOPICS)}.",
        lambda: f"Explain {r.choice(_TOPICS)} to a child in simple words.",
        lambda: f"Describe {r.choice(_PLACES)} at night.",
    ))()


def _question(r: random.Random) -> str:
    return r.choice((
        lambda: f"Why does {_a(r.choice(_NOUNS))} need {r.choice(_TOPICS)}?",
        lambda: f"What is the difference between {_a(r.choice(_NOUNS))} and {_a(r.choice(_NOUNS))}?",
        lambda: f"How would {r.choice(_NAMES)} explain {r.choice(_TOPICS)} to a friend?",
        lambda: f"Where can you find {_a(r.choice(_ADJS))} {r.choice(_NOUNS)}?",
        lambda: f"What happens when {r.choice(_TOPICS)} meets {r.choice(_TOPICS)}?",
        lambda: f"Is {_a(r.choice(_ANIMALS))} bigger than {_a(r.choice(_ANIMALS))}?",
    ))()


def _completion(r: random.Random) -> str:
    return r.choice((
        lambda: f"The {r.choice(_ADJS)} {r.choice(_NOUNS)} {r.choice(_VERBS)} the",
        lambda: f"Once upon a time, {r.choice(_NAMES)} lived near {r.choice(_PLACES)} and",
        lambda: f"In {r.choice(_PLACES)}, every {r.choice(_NOUNS)} was",
        lambda: f"{r.choice(_NAMES)} opened the {r.choice(_ADJS)} {r.choice(_NOUNS)} and saw",
        lambda: f"The best thing about {r.choice(_TOPICS)} is",
    ))()


def _listing(r: random.Random) -> str:
    return r.choice((
        lambda: f"List five things you might find in {_a(r.choice(_NOUNS))}.",
        lambda: f"Name four {r.choice(_COLORS)} objects.",
        lambda: f"List three words that rhyme with {r.choice(_NOUNS)}.",
        lambda: f"Give a numbered list of steps to clean {_a(r.choice(_NOUNS))}.",
        lambda: f"Name {r.randint(2, 6)} animals that live near {_a(r.choice(('river', 'ocean', 'forest', 'desert', 'mountain')))}.",
    ))()


def _code(r: random.Random) -> str:
    task, name = r.choice(_FUNCS)
    lang = r.choice(_LANGS)
    return r.choice((
        lambda: f"Write a {lang} function to {task}.",
        lambda: f"def {name}(",
        lambda: f"# {lang}: {task}\n",
        lambda: f"What does this code print?\nx = {r.randint(1, 9)}\nfor i in range({r.randint(2, 5)}):\n    x = x * 2\nprint(x)",
        lambda: f"Fix the bug: for i in range(len(items)) print(items[i]",
    ))()


def _arithmetic(r: random.Random) -> str:
    a, b = r.randint(2, 99), r.randint(2, 99)
    return r.choice((
        lambda: f"What is {a} + {b}?",
        lambda: f"What is {a} times {b % 12 + 1}?",
        lambda: f"{a} - {b} =",
        lambda: f"If {r.choice(_NAMES)} has {a} apples and gives away {min(a, b)}, how many are left?",
        lambda: f"Is {a * 3 + 1} a prime number?",
        lambda: f"Compute {a} divided by {b % 9 + 1}.",
    ))()


def _definition(r: random.Random) -> str:
    return r.choice((
        lambda: f"Define the word \"{r.choice(_ADJS)}\".",
        lambda: f"What does the word \"{r.choice(_NOUNS)}\" mean?",
        lambda: f"Use the word \"{r.choice(_NOUNS)}\" in a sentence.",
        lambda: f"Give a synonym for \"{r.choice(_ADJS)}\".",
    ))()


def _dialogue(r: random.Random) -> str:
    a, b = r.sample(_NAMES, 2)
    return r.choice((
        lambda: f"{a}: Have you seen my {r.choice(_NOUNS)}?\n{b}:",
        lambda: f"User: Can you help me with {r.choice(_TOPICS)}?\nAssistant:",
        lambda: f"Q: Why is the {r.choice(_NOUNS)} {r.choice(_ADJS)}?\nA:",
        lambda: f"{a} asked {b} about {r.choice(_TOPICS)}. {b} said,",
    ))()


def _transform(r: random.Random) -> str:
    words = " ".join(r.sample(_NOUNS, r.randint(3, 5)))
    return r.choice((
        lambda: f"Sort these words alphabetically: {words}",
        lambda: f"Translate to French: The {r.choice(_NOUNS)} is {r.choice(_ADJS)}.",
        lambda: f"Rewrite in the past tense: {r.choice(_NAMES)} {r.choice(_VERBS)} the {r.choice(_NOUNS)}.",
        lambda: f"Make this sentence shorter: The very {r.choice(_ADJS)} and rather {r.choice(_ADJS)} {r.choice(_NOUNS)} slowly {r.choice(_VERBS)} the {r.choice(_NOUNS)}.",
        lambda: f"Write these words in reverse order: {words}",
        lambda: f"Spell the word {r.choice(_NOUNS)} backwards.",
    ))()


def _classify(r: random.Random) -> str:
    return r.choice((
        lambda: f"Is the sentence \"The {r.choice(_NOUNS)} is {r.choice(_ADJS)}\" positive or negative?",
        lambda: f"Which one is an animal: {r.choice(_NOUNS)}, {r.choice(_ANIMALS)} or {r.choice(_COLORS)}?",
        lambda: f"Is {r.choice(_TOPICS)} a science, a food or an art?",
        lambda: f"Answer yes or no: can {_a(r.choice(_ANIMALS))} fly?",
    ))()


def _random_words(r: random.Random) -> str:
    pool = _NOUNS + _ADJS + _VERBS + _TOPICS
    return " ".join(r.sample(pool, r.randint(4, 9)))


def _structured(r: random.Random) -> str:
    return r.choice((
        lambda: f"Fill in the JSON: {{\"name\": \"{r.choice(_NAMES)}\", \"pet\": \"{r.choice(_ANIMALS)}\", \"age\":",
        lambda: f"| item | color |\n| {r.choice(_NOUNS)} | {r.choice(_COLORS)} |\n|",
        lambda: f"Title: The {r.choice(_ADJS).capitalize()} {r.choice(_NOUNS).capitalize()}\nChapter 1\n",
        lambda: f"Recipe for {r.choice(_TOPICS)} soup:\n1.",
    ))()


_KINDS = (
    _instruction, _question, _completion, _listing, _code, _arithmetic,
    _definition, _dialogue, _transform, _classify, _random_words, _structured,
)


def generate_probes(n: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED) -> list[str]:
    """`n` distinct prompts, round-robin over the twelve kinds, deterministic in `seed`.

    Newlines inside a prompt are stored as the two characters backslash-n in the file (see `_encode`).
    """
    r = random.Random(seed)
    seen: set[str] = set()
    out: list[str] = []
    attempts = 0
    while len(out) < n:
        prompt = _KINDS[len(out) % len(_KINDS)](r).rstrip(" ")
        attempts += 1
        if attempts > 100 * n:
            raise RuntimeError("probe grammar too small for the requested count")
        if prompt in seen:
            continue
        seen.add(prompt)
        out.append(prompt)
    return out


def _encode(prompt: str) -> str:
    return prompt.replace("\\", "\\\\").replace("\n", "\\n")


def _decode(line: str) -> str:
    out, i = [], 0
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line):
            out.append("\n" if line[i + 1] == "n" else line[i + 1])
            i += 2
        else:
            out.append(line[i])
            i += 1
    return "".join(out)


def render_probe_file(prompts: list[str]) -> str:
    return "".join(_encode(p) + "\n" for p in prompts)


def write_probe_file(path: str | Path, n: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED) -> Path:
    """Regenerate a probe file (the shipped one is `python -m kb.probes`)."""
    path = Path(path)
    path.write_text(render_probe_file(generate_probes(n, seed)), encoding="utf-8")
    return path


@dataclass(frozen=True)
class ProbeSet:
    """A loaded probe file: its id (content hash), its source and its prompts."""

    id: str
    source: str
    prompts: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.prompts)

    def head(self, n: int) -> list[str]:
        if n < 1 or n > len(self.prompts):
            raise InputError(f"probe count {n} out of range: this probe set has 1..{len(self.prompts)}")
        return list(self.prompts[:n])


def probe_set_id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def load_probes(path: str | Path | None = None) -> ProbeSet:
    """The shipped probe set, or a probe file of the same format (one prompt per line)."""
    if path is None:
        data = resources.files("kb").joinpath("data", PROBE_FILE).read_bytes()
        source = f"kb/data/{PROBE_FILE}"
    else:
        p = Path(path)
        if not p.is_file():
            raise InputError(f"no probe file at {p}: give a text file with one prompt per line")
        data, source = p.read_bytes(), str(p)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"probe file {source} is not UTF-8 text") from None
    prompts = tuple(_decode(line) for line in text.split("\n") if line.strip())
    if not prompts:
        raise InputError(f"probe file {source} has no prompts")
    return ProbeSet(id=probe_set_id(data), source=source, prompts=prompts)


if __name__ == "__main__":  # regenerate the shipped file
    target = Path(__file__).parent / "data" / PROBE_FILE
    target.parent.mkdir(exist_ok=True)
    write_probe_file(target)
    print(target, load_probes(target).id)
