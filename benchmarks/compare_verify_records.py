"""Compare the claim records of two ``hdo-theory verify`` output folders, claim by claim.

    python benchmarks/compare_verify_records.py OUT_A OUT_B

Reads ``OUT/claims/<id>.json`` of both runs and compares each claim's ``records`` (and its
``figures``, ``findings`` and error) as exact JSON text: floats are written with ``repr``, so
equal text means bit-identical values. Only the wall time (``seconds``) may differ. Exit 0 when
every claim matches and both runs hold the same claims, 1 otherwise (each difference printed).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

COMPARED = ("records", "figures", "findings", "error", "error_info", "scale", "seed")


def load(out: Path) -> dict:
    return {p.stem: json.loads(p.read_text()) for p in sorted((out / "claims").glob("*.json"))}


def compare(a: Path, b: Path) -> list[str]:
    ca, cb = load(a), load(b)
    problems = [f"only in {a}: {c}" for c in sorted(set(ca) - set(cb))]
    problems += [f"only in {b}: {c}" for c in sorted(set(cb) - set(ca))]
    for cid in sorted(set(ca) & set(cb)):
        for key in COMPARED:
            if json.dumps(ca[cid].get(key), sort_keys=True) != \
                    json.dumps(cb[cid].get(key), sort_keys=True):
                problems.append(f"{cid}: {key} differ")
    return problems


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    a, b = Path(argv[0]), Path(argv[1])
    problems = compare(a, b)
    n = len(load(a))
    for p in problems:
        print(p)
    print(f"{n} claims compared: " + ("all records identical" if not problems
                                     else f"{len(problems)} difference(s)"))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
