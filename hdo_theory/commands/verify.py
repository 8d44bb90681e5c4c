"""``hdo-theory verify``: check every claim of the paper by experiment and write a report."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from hdo_theory.commands import add_plugin, add_progress, plugin_list, progress_wanted
from hdo_theory.errors import HDOInputError, check_int

NAME = "verify"
HELP = ("check the paper's lemmas and theorem by experiment; print verdicts, write "
        "report.md/.html/.json (--latex: also report.tex)")


def add_arguments(p):
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", dest="scale", action="store_const", const="quick",
                   help="scaled-down grids (default; minutes on 2 cores)")
    g.add_argument("--full", dest="scale", action="store_const", const="full",
                   help="publication-grade grids (minutes to an hour; default: --quick)")
    p.set_defaults(scale="quick")
    p.add_argument("--claims", "--only", dest="claims", nargs="+", metavar="ID",
                   help="claim IDs or prefixes (e.g. lemma5 exact theorem1; a plugin's claim "
                        "IDs too); default: all")
    p.add_argument("--seed", type=int, default=0, help="master seed (default 0)")
    p.add_argument("--out", default="hdo-report",
                   help="output folder, created with its parents if missing (default hdo-report)")
    p.add_argument("--json", action="store_true",
                   help="print the JSON report to stdout (default: the verdict table)")
    p.add_argument("--latex", action="store_true",
                   help="also write report.tex: the verdict tables as LaTeX (booktabs) "
                        "(default: off)")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 when any record is violated")
    p.add_argument("--resume", action="store_true",
                   help="reuse the claims a previous run with the same --out, scale and seed "
                        "finished (saved in OUT/claims/ as each completes)")
    p.add_argument("--jobs", type=int, default=None,
                   help="worker processes running claims side by side (same records for any "
                        "value; default: the number of cores this process may use)")
    p.add_argument("--budget", default=None, metavar="REPLICAS",
                   help="precision-driven replicas: the claims that support it (Theorem 1's "
                        "rates, claims 1 and 3; claims 4, 5 and 7 over shard splits) double their "
                        "replicas from the grid's count up to REPLICAS per configuration until "
                        "decided, with alpha spending over "
                        "the looks (results bit-identical and resumable for a given budget; "
                        "default: the grid's fixed counts)")
    p.add_argument("--time-limit", default=None, metavar="SECONDS",
                   help="cap on each such claim's extension in seconds; a claim it stops is "
                        "marked so in its reason (default: none)")
    p.add_argument("--list", action="store_true", help="list the claims and exit")
    add_plugin(p)
    add_progress(p)


def _check_out(path: str) -> Path:
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HDOInputError(f"--out {path!r} cannot be created: {exc.strerror}") from None
    if not out.is_dir() or not os.access(out, os.W_OK):
        raise HDOInputError(f"--out {path!r} is not a writable folder")
    return out


def run(args) -> int:
    from hdo_theory.verification.claims import REGISTRY
    from hdo_theory.verification.report import text_table, to_json, write_report
    from hdo_theory.verification.runner import check_budget, resolve_ids, run_verification

    plugin_list(args)
    if args.list:
        for cid, c in REGISTRY.items():
            fam = "" if c.family in (None, "builtin") else f"  [plugin {c.family}]"
            print(f"{cid:20s} {c.reference}{fam}")
        return 0
    seed = check_int("--seed", args.seed, 0, 2**32 - 1)
    from hdo_theory.verification.parallel import available_cores

    cores = available_cores()
    jobs = cores if args.jobs is None else check_int("--jobs", args.jobs, 1, 4 * cores)
    ids = resolve_ids(args.claims)  # bad IDs fail before any work
    budget, time_limit = check_budget(args.budget, args.time_limit)
    out = _check_out(args.out)
    log = (lambda m: print(m, file=sys.stderr)) if args.json else print
    res = run_verification(ids, scale=args.scale, seed=seed, log=log, out_dir=out,
                           resume=args.resume, progress=progress_wanted(args.progress),
                           jobs=jobs, budget=budget, time_limit=time_limit)
    # written whatever the claims did
    paths = write_report(res, out, latex_tables=args.latex)
    if args.json:
        print(json.dumps(to_json(res), indent=1, allow_nan=False))
    else:
        print()
        print(text_table(res))
        c = res.counts()
        print(f"\n{c['holds']} holds, {c['violated']} violated, {c['equivalent']} equivalent, "
              f"{c['inconclusive']} "
              f"inconclusive, {c['outside assumptions']} outside assumptions "
              f"({res.seconds:.0f} s). Report: " + ", ".join(str(p) for p in paths.values()))
    if res.errors:
        print(f"{len(res.errors)} claim(s) raised an error: "
              + ", ".join(e["claim"] for e in res.errors) + " (see the report)", file=sys.stderr)
        return 3
    if args.strict and res.counts()["violated"] > 0:
        return 1
    return 0
