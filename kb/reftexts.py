"""The reference text set of the log-likelihood channel: short texts generated from small grammars.

Oyama et al. (ACL 2025) score each model on a fixed text set; any fixed set works as long as every
model sees the same one, so we generate ours (no third-party corpus text, no licence burden): 14
registers (narrative, dialogue, instructions, news, technical, science, questions, lists, verse,
letters, code, sayings, arithmetic, formal) from hand-written word lists, one text per line.

The shipped file `kb/data/reftexts-v1.txt` is the set; `generate_reftexts()` rebuilds it
byte for byte (a test checks this). A set's id is the first 16 hex digits of the sha256 of the
file's bytes, so any edit makes a new id and hence a new protocol.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

from kb.errors import InputError

REFTEXTS_VERSION = "v1"
REFTEXTS_PATH = Path(__file__).parent / "data" / f"reftexts-{REFTEXTS_VERSION}.txt"
N_TEXTS = 1200
GENERATOR_SEED = 20250701

_NAMES = ["Ada", "Bruno", "Chen", "Dalia", "Emeka", "Farah", "Goran", "Hana", "Ivan", "Jun", "Kemal",
          "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Viktor",
          "Wen", "Ximena", "Yusuf", "Zofia", "the old baker", "my neighbour", "the new teacher", "a tired pilot"]
_PLACES = ["market", "harbour", "library", "station", "garden", "bakery", "museum", "river bank", "bridge",
           "school", "clinic", "warehouse", "forest", "village square", "hotel lobby", "train platform",
           "mountain hut", "old mill", "beach", "stadium"]
_TIMES = ["at dawn", "before lunch", "late in the evening", "on a rainy Tuesday", "after the storm",
          "in early spring", "just before midnight", "during the holidays", "the next morning", "at noon"]
_PAST = ["walked", "ran", "drove", "hurried", "wandered", "cycled", "returned", "sailed", "climbed", "went"]
_CLAUSES = ["hoping to find a lost key", "carrying a basket of apples", "without telling anyone",
            "because the lights had gone out", "humming a quiet song", "to meet an old friend",
            "although it was already dark", "with a map drawn on a napkin", "to buy fresh bread",
            "while the bells were ringing", "to return a borrowed book", "after losing a bet"]
_THINGS = ["boxes", "letters", "bicycles", "lamps", "chairs", "trees", "tickets", "boats", "coins",
           "computers", "windows", "sheep", "bottles", "candles", "bridges", "houses", "books", "maps"]
_ADJ = ["quiet", "bright", "heavy", "strange", "narrow", "golden", "broken", "gentle", "cold", "ancient",
        "crowded", "empty", "green", "silver", "tiny", "enormous", "careful", "sudden", "warm", "hollow"]
_NOUNS = ["river", "window", "letter", "engine", "garden", "song", "mirror", "lantern", "shadow", "road",
          "clock", "harvest", "ocean", "question", "promise", "door", "field", "storm", "thread", "stone"]
_FOODS = ["onions", "carrots", "rice", "lentils", "tomatoes", "potatoes", "mushrooms", "garlic", "beans",
          "spinach", "butter", "flour", "apples", "eggs", "cabbage", "peppers"]
_COOK = ["Chop", "Slice", "Rinse", "Peel", "Stir", "Mix", "Grate", "Soak", "Toast", "Mash"]
_COOK2 = ["simmer", "bake", "fry", "boil", "roast", "steam", "cool", "rest"]
_ORGS = ["city council", "port authority", "weather office", "national library", "regional hospital",
         "railway company", "university", "farmers' union", "museum board", "water utility"]
_CITIES = ["Lisbon", "Nairobi", "Osaka", "Quito", "Tallinn", "Perth", "Accra", "Bergen", "Cusco", "Hanoi",
           "Porto", "Tbilisi", "Dakar", "Sapporo", "Valparaiso", "Gdansk"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_NEWSVERB = ["repaired", "delivered", "counted", "replaced", "inspected", "donated", "recovered", "planted"]
_COMPONENTS = ["cache", "scheduler", "database", "firewall", "logger", "proxy", "backup job", "web server",
               "message queue", "sensor driver", "build system", "printer"]
_PARAMS = ["timeout", "max_connections", "retry_limit", "buffer_size", "log_level", "port", "workers",
           "batch_size", "interval", "threshold"]
_SERVICES = ["service", "daemon", "container", "process", "machine", "application"]
_SUBST = ["copper", "iron", "salt water", "vinegar", "baking soda", "chalk", "sugar", "zinc", "oxygen",
          "carbon dioxide", "ammonia", "sulfur"]
_PRODUCTS = ["a blue solid", "small bubbles of gas", "a white powder", "a thin green film", "heat and light",
             "a clear liquid", "a brown crust", "a faint smell of eggs"]
_QWORDS = ["How many", "Why do", "Where do", "When do", "How often do"]
_QVERBS = ["sleep", "travel", "grow", "change colour", "need water", "make noise", "move", "rest"]
_CREATURES = ["owls", "bees", "whales", "ants", "foxes", "penguins", "frogs", "camels", "bats", "turtles"]
_VERBING = ["drifting", "singing", "falling", "waiting", "burning", "turning", "whispering", "shining"]
_LETTERS = ["thanks for the", "sorry about the", "did you get the", "I found your", "please bring the"]
_FUNCS = ["area", "total", "scale", "clamp", "average", "distance", "count", "merge", "parse", "score"]
_ARGS = ["x", "n", "items", "value", "width", "data", "a", "row"]
_SAYINGS = [
    "A {adj} {noun} never hurries the {noun2}.", "Who waits by the {noun} learns the {noun2}.",
    "Every {noun} has two sides, and the {adj} one faces the {noun2}.",
    "Measure the {noun} twice before you cut the {noun2}.", "No {noun} is too {adj} for a patient hand.",
]
_PARTIES = ["tenant", "supplier", "buyer", "contractor", "licensee", "employer", "borrower", "seller"]
_DUTIES = ["pay the outstanding balance", "return all keys", "deliver the goods", "submit a written notice",
           "repair any damage", "provide an inventory", "cease all use of the materials"]
_EVENTS = ["the end of the term", "receipt of the invoice", "the date of signature", "the final inspection",
           "termination of this agreement"]


def _c(rng: random.Random, items: list[str]) -> str:
    return items[rng.randrange(len(items))]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _text(rng: random.Random, register: int) -> str:
    c = lambda items: _c(rng, items)  # noqa: E731
    n, m = rng.randrange(2, 60), rng.randrange(2, 40)
    if register == 0:
        return _cap(f"{c(_NAMES)} {c(_PAST)} to the {c(_PLACES)} {c(_TIMES)}, {c(_CLAUSES)}.")
    if register == 1:
        return (f'"Have you seen the {c(_ADJ)} {c(_NOUNS)}?" asked {c(_NAMES)}. '
                f'"Only near the {c(_PLACES)}," said {c(_NAMES)}.')
    if register == 2:
        return (f"{c(_COOK)} the {c(_FOODS)} and the {c(_FOODS)}, then {c(_COOK2)} them for "
                f"{rng.randrange(3, 45)} minutes.")
    if register == 3:
        return (f"The {c(_ORGS)} in {c(_CITIES)} said on {c(_DAYS)} that {n} {c(_THINGS)} had been "
                f"{c(_NEWSVERB)} this month.")
    if register == 4:
        return (f"To tune the {c(_COMPONENTS)}, set {c(_PARAMS)} to {m * 10} and restart the "
                f"{c(_SERVICES)}.")
    if register == 5:
        return f"When {c(_SUBST)} meets {c(_SUBST)} at {n * 5} degrees, it forms {c(_PRODUCTS)}."
    if register == 6:
        return f"{c(_QWORDS)} {c(_CREATURES)} {c(_QVERBS)} in the {c(_ADJ)} season?"
    if register == 7:
        return (f"Order {1000 + n * m}: {m} {c(_THINGS)}, {n} {c(_THINGS)}, total "
                f"{n * m + m}.{rng.randrange(10, 99)} euros.")
    if register == 8:
        return (f"{_cap(c(_ADJ))} {c(_NOUNS)} of the {c(_NOUNS)}, {c(_VERBING)} in the {c(_ADJ)} "
                f"{c(_PLACES)}.")
    if register == 9:
        return f"Hi {c(_NAMES[:26])}, {c(_LETTERS)} {c(_NOUNS)}! See you on {c(_DAYS)}."
    if register == 10:
        fn, arg = c(_FUNCS), c(_ARGS)
        return f"def {fn}({arg}): return {arg} * {m} + {n}"
    if register == 11:
        return c(_SAYINGS).format(adj=c(_ADJ), noun=c(_NOUNS), noun2=c(_NOUNS))
    if register == 12:
        return f"{n} plus {m} is {n + m}, and {n} times {m} is {n * m}."
    return f"The {c(_PARTIES)} shall {c(_DUTIES)} no later than {m} days after {c(_EVENTS)}."


N_REGISTERS = 14


def generate_reftexts(n: int = N_TEXTS, seed: int = GENERATOR_SEED) -> list[str]:
    """`n` distinct texts, registers in rotation, deterministic given (n, seed)."""
    rng = random.Random(seed)
    seen: set[str] = set()
    texts: list[str] = []
    attempts = 0
    while len(texts) < n:
        attempts += 1
        if attempts > 50 * n:
            raise InputError(f"the grammars cannot make {n} distinct texts; lower n")
        text = _text(rng, len(texts) % N_REGISTERS)
        if text not in seen:
            seen.add(text)
            texts.append(text)
    return texts


def render(texts: list[str]) -> str:
    return "".join(t + "\n" for t in texts)


@dataclass(frozen=True)
class RefTextSet:
    """A loaded reference set: `id` = content hash of the file, texts in file order."""

    id: str
    texts: tuple[str, ...]
    path: Path


def load_reftexts(path: str | Path | None = None) -> RefTextSet:
    """Read a reference set (default: the shipped v1 file); one text per line, no blank lines."""
    path = Path(path) if path is not None else REFTEXTS_PATH
    if not path.is_file():
        raise InputError(f"no reference text file at {path}: rebuild it with `python -m kb.reftexts`")
    data = path.read_bytes()
    texts = tuple(data.decode("utf-8").splitlines())
    if not texts or any(not t.strip() for t in texts):
        raise InputError(f"{path}: empty file or blank line; every line must be one non-empty text")
    return RefTextSet(id=hashlib.sha256(data).hexdigest()[:16], texts=texts, path=path)


if __name__ == "__main__":  # rebuild the shipped file
    REFTEXTS_PATH.parent.mkdir(parents=True, exist_ok=True)
    REFTEXTS_PATH.write_text(render(generate_reftexts()), encoding="utf-8")
    print(f"{REFTEXTS_PATH}: {N_TEXTS} texts, id {load_reftexts().id}")
