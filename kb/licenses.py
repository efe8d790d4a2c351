"""Model licences: a small table of the common ones, and whether a derivative's licence fits its ancestor's.

Each licence in `LICENCES` is described by three facts read from its text (not by a verdict per pair):

- `commercial`: may the weights be used commercially;
- `use_restrictions`: does it carry behavioural use restrictions (an acceptable-use policy);
- `derivatives`: what it demands of a derivative's licence —
  `any` (permissive: a derivative may take any licence), `same` (the derivative must stay under the
  same terms: the Llama and Gemma agreements, ShareAlike), `restrictions` (another licence is allowed
  if it keeps this one's restrictions: CC BY-NC keeps non-commercial; the OpenRAIL family must carry
  its use restrictions, which only an OpenRAIL licence does), `none` (no derivative may be shared: ND).

The verdict for an (ancestor, derivative) pair follows from those facts, in this order:

1. `unknown` when either licence is missing or not in the table (never guessed from a name);
2. `ok` when the ancestor's licence is permissive (`any`);
3. `incompatible` when the ancestor forbids derivatives (`none`);
4. `more-permissive` when the derivative allows what the ancestor forbids: commercial use of a
   non-commercial ancestor, or no use restrictions under an ancestor that has them;
5. under `same`: `ok` for the same licence family, else `incompatible` (it does not carry the
   ancestor's terms, nor is it merely looser);
6. under `restrictions`: `ok` when the derivative is in the ancestor's family or the ancestor has no use
   restrictions (it kept the rest by step 4), else `incompatible`.

This is a governance screen, not legal advice: it flags pairs a person should look at.
"""

from __future__ import annotations

from dataclasses import dataclass

VERDICTS = ("ok", "more-permissive", "incompatible", "unknown")
DERIVATIVE_RULES = ("any", "same", "restrictions", "none")


@dataclass(frozen=True)
class Licence:
    """What a licence allows, as far as a derivative's licence is concerned."""

    id: str
    family: str
    commercial: bool
    use_restrictions: bool
    derivatives: str
    note: str = ""

    def __post_init__(self) -> None:
        if self.derivatives not in DERIVATIVE_RULES:
            raise ValueError(f"licence {self.id}: derivatives must be one of {DERIVATIVE_RULES}")


def _llama(version: str) -> Licence:
    return Licence(f"llama{version}", f"llama{version}", True, True, "same",
                   f"Llama {version} Community License: derivatives ship with the agreement and its "
                   "acceptable-use policy (700M monthly-user threshold)")


_TABLE = (
    Licence("apache-2.0", "apache-2.0", True, False, "any", "permissive; keep the NOTICE"),
    Licence("mit", "mit", True, False, "any", "permissive; keep the copyright notice"),
    _llama("2"), _llama("3"), _llama("3.1"), _llama("3.2"), _llama("3.3"),
    Licence("gemma", "gemma", True, True, "same",
            "Gemma Terms of Use: derivatives carry the terms and the prohibited-use policy"),
    Licence("cc-by-nc-4.0", "cc-by-nc", False, False, "restrictions",
            "non-commercial; an adaptation may take another licence that stays non-commercial"),
    Licence("cc-by-nc-sa-4.0", "cc-by-nc-sa", False, False, "same",
            "non-commercial, ShareAlike: adaptations under the same licence"),
    Licence("cc-by-nc-nd-4.0", "cc-by-nc-nd", False, False, "none",
            "non-commercial, NoDerivatives: adaptations may not be shared"),
    Licence("openrail", "openrail", True, True, "restrictions",
            "OpenRAIL: derivatives may take other terms but must carry the use restrictions"),
    Licence("openrail++", "openrail", True, True, "restrictions", "OpenRAIL++-M, as OpenRAIL"),
    Licence("bigscience-openrail-m", "openrail", True, True, "restrictions", "BigScience OpenRAIL-M"),
    Licence("creativeml-openrail-m", "openrail", True, True, "restrictions", "CreativeML OpenRAIL-M"),
    Licence("bigcode-openrail-m", "openrail", True, True, "restrictions", "BigCode OpenRAIL-M"),
    Licence("bigscience-bloom-rail-1.0", "openrail", True, True, "restrictions", "BigScience BLOOM RAIL 1.0"),
)
LICENCES: dict[str, Licence] = {licence.id: licence for licence in _TABLE}
"""The table, by Hugging Face licence id (lower case, as in the Hub's `license:` tags)."""


@dataclass(frozen=True)
class Verdict:
    verdict: str
    reason: str


def lookup(licence: str | None) -> Licence | None:
    """The table's entry for a licence id (case and surrounding spaces ignored), or None."""
    if not licence:
        return None
    return LICENCES.get(licence.strip().lower())


def compatibility(ancestor: str | None, derivative: str | None) -> Verdict:
    """Whether a derivative licensed `derivative` fits an ancestor licensed `ancestor` (see the module
    docstring for the rules).

    >>> compatibility("llama2", "apache-2.0").verdict
    'more-permissive'
    >>> compatibility("mit", "llama2").verdict
    'ok'
    >>> compatibility("llama2", None)
    Verdict(verdict='unknown', reason='derivative licence not stated')
    """
    a, d = lookup(ancestor), lookup(derivative)
    if a is None or d is None:
        missing = [(who, text) for who, text, entry in (("ancestor", ancestor, a), ("derivative", derivative, d))
                   if entry is None]
        return Verdict("unknown", "; ".join(
            f"{who} licence {text!r} is not in the table" if text else f"{who} licence not stated"
            for who, text in missing))
    if a.derivatives == "any":
        return Verdict("ok", f"{a.id} is permissive")
    if a.derivatives == "none":
        return Verdict("incompatible", f"{a.id} allows no shared derivatives")
    looser = []
    if d.commercial and not a.commercial:
        looser.append(f"{d.id} allows commercial use, {a.id} does not")
    if a.use_restrictions and not d.use_restrictions:
        looser.append(f"{d.id} lacks the use restrictions of {a.id}")
    if looser:
        return Verdict("more-permissive", "; ".join(looser))
    if d.family == a.family:
        return Verdict("ok", f"same terms ({a.family})")
    if a.derivatives == "restrictions" and not a.use_restrictions:
        return Verdict("ok", f"{d.id} keeps the restrictions of {a.id}")
    return Verdict("incompatible", f"{d.id} does not carry the terms of {a.id}")


__all__ = ["LICENCES", "VERDICTS", "Licence", "Verdict", "compatibility", "lookup"]
