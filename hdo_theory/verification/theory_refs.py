"""Where each claim is stated in the project's own account of the theory, ``docs/theory.md``.

A claim's ``reference`` names the paper's statement ("Lemma 11"); :data:`ANCHORS` maps every
built-in claim id to the section of ``docs/theory.md`` that states it with the constants as
printed, so a report, a figure caption or a reader can link to it. One row per claim; the test
suite checks that every registered claim has a row and that every anchor exists in the document.
Claims registered by users without a row get the document itself.
"""

from __future__ import annotations

__all__ = ["ANCHORS", "THEORY_DOC", "theory_anchor"]

#: The document, as a path relative to the repository root.
THEORY_DOC = "docs/theory.md"

#: Claim id -> heading anchor in :data:`THEORY_DOC` (GitHub-style heading slugs).
ANCHORS: dict[str, str] = {
    "lemma1.3": "lemma-1",
    "lemma1.4": "lemma-1",
    "lemma1.5": "lemma-1",
    "lemma5": "lemma-5",
    "lemma10": "lemma-10",
    "lemma13": "lemma-13",
    "objective.reading": "slip-1-the-global-objective",
    "exact.pairwise": "exact-facts",
    "exact.matching": "exact-facts",
    "exact.kernel": "exact-facts",
    "lemma2": "lemma-2",
    "lemma3": "lemma-3",
    "lemma16": "lemma-16",
    "lemma11": "lemma-11",
    "lemma17": "lemma-17",
    "lemma14": "lemma-14",
    "lemma19": "lemma-19",
    "theorem1.convex": "strongly-convex-case",
    "theorem1.nonconvex": "non-convex-case",
    "claim1": "claim-1",
    "claim2": "claim-2",
    "claim3": "claim-3",
    "claim4": "claim-4",
    "claim5": "claim-5",
    "claim6": "claim-6",
    "claim7": "claim-7",
    # exact twins (hdo_theory.exact on an explicit quadratic): the statement they check
    "lemma2.exact": "lemma-2",
    "lemma3.exact": "lemma-3",
    "lemma11.exact": "lemma-11",
    "lemma14.exact": "lemma-14",
    "lemma19.exact": "lemma-19",
    "theorem1.convex.exact": "strongly-convex-case",
    "claim1.exact": "claim-1",
    "claim3.exact": "claim-3",
}


def theory_anchor(claim_id: str) -> str:
    """``docs/theory.md#<anchor>`` for a built-in claim id, else ``docs/theory.md``."""
    anchor = ANCHORS.get(claim_id)
    return f"{THEORY_DOC}#{anchor}" if anchor else THEORY_DOC
