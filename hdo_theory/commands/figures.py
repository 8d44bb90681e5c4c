"""``hdo-theory figures``: the theory figures and the paper's experiments, from stored results.

Runs what is missing and writes each figure as PDF (vector) and PNG, with a caption file
(caption, the numbers it quotes, every run's configuration and seed, and this command)::

    hdo-theory figures --quick --out figures/            # all figures, small runs
    hdo-theory figures --only convex --only gamma        # two figures, full size
    hdo-theory figures --from figures/results --out figs # re-plot only, never run

Results go to ``--from`` (read only: nothing is run) or else to ``OUT/results``. A missing run
is reported with the command that makes it; a corrupt or foreign results file is reported by
name and skipped (re-run when running is allowed).
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

from hdo_theory.commands import add_progress, progress_wanted
from hdo_theory.errors import HDOInputError

NAME = "figures"
HELP = "make the theory figures (PDF + PNG + caption), running what is missing"


def add_arguments(p) -> None:
    from hdo_theory.figures import FIGURE_NAMES

    p.add_argument("--only", action="append", metavar="NAME", default=None,
                   help="figure to make (repeatable; default: all); one of: "
                        + ", ".join(FIGURE_NAMES))
    p.add_argument("--from", dest="from_dir", metavar="RESULTS_DIR", default=None,
                   help="re-plot from the results stored here; never run anything (default: "
                        "none: use DIR/results and run what is missing)")
    p.add_argument("--out", default="figures", metavar="DIR",
                   help="output folder, created with its parents if missing (default: figures); "
                        "results go to DIR/results")
    p.add_argument("--quick", action="store_true",
                   help="small runs (seconds to a minute per figure) instead of full ones "
                        "(default: full)")
    add_progress(p)


def run(args) -> int:
    import matplotlib

    matplotlib.use("Agg")  # the command writes files; it never needs a display

    from hdo_theory.atomic import check_writable_folder
    from hdo_theory.figures import FIGURE_NAMES, make_figure
    from hdo_theory.figures.store import MissingResults, Runner

    names = args.only or list(FIGURE_NAMES)
    bad = [n for n in names if n not in FIGURE_NAMES]
    if bad:
        raise HDOInputError(f"--only must be one of {', '.join(FIGURE_NAMES)}; got {bad[0]!r}")
    out = Path(args.out)
    if args.from_dir is not None:
        results = Path(args.from_dir)
        if not results.is_dir():
            raise HDOInputError(f"--from must be an existing folder, got {str(results)!r}")
    else:
        results = out / "results"
    command = "hdo-theory figures " + " ".join(shlex.quote(a) for a in sys.argv[2:]) \
        if len(sys.argv) > 1 and sys.argv[1] == NAME else \
        f"hdo-theory figures {'--quick ' if args.quick else ''}" + \
        " ".join(f"--only {n}" for n in names) + f" --out {out}"
    check_writable_folder(out, what="out")  # before any run: figures and results go there
    runner = Runner(progress=progress_wanted(args.progress))
    failed = 0
    for name in dict.fromkeys(names):
        t0 = time.perf_counter()
        try:
            made = make_figure(name, results, out, args.quick, run_missing=args.from_dir is None,
                               command=command, runner=runner,
                               log=lambda m: print(f"  {m}", file=sys.stderr))
        except MissingResults as exc:
            print(f"hdo-theory figures: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"{name}: {made['pdf']}, {made['png']}, {made['caption']} "
              f"({time.perf_counter() - t0:.1f} s)")
    return 1 if failed else 0
