"""``hdo-theory exact``: the exact expected dynamics of a run's configuration, no Monte Carlo.

Takes every option of ``hdo-theory run`` (and ``--config FILE``; the run-only options such as
``--replicas`` and ``--out`` are accepted and unused) plus ``--at`` (the steps; default: the
run's record steps) and prints a table of the exact expectations (``--json``: one JSON object).

Example::

    hdo-theory exact --objective explicit-quadratic --d 5 --n0 4 --n1 4 --noise 0.1 \\
        --T 100000 --zo-estimator zo-forward --zo-lr 0.01 --fo-lr 0.01 --at 0,10,1000,100000
"""

from __future__ import annotations

import json
import math
import sys

from hdo_theory.commands import run as run_cmd
from hdo_theory.errors import HDOInputError
from hdo_theory.runs.options import build, resolve_options
from hdo_theory.serialize import jsonable

NAME = "exact"
HELP = "exact expected dynamics on a quadratic (the options of run, plus --at); no Monte Carlo"


def add_arguments(p) -> None:
    run_cmd.add_arguments(p)
    p.add_argument("--at", metavar="STEPS", default=None,
                   help="comma-separated, strictly increasing steps in [0, T] (interactions; "
                        "rounds for --model matching) (default: the record steps of --record)")


def parse_at(text: str | None):
    if text is None:
        return None
    parts = [s.strip() for s in str(text).split(",") if s.strip()]
    out = []
    for s in parts:
        try:
            v = float(s)
        except ValueError:
            raise HDOInputError(f"at must be comma-separated integers, got {s!r}") from None
        if not v.is_integer():
            raise HDOInputError(f"at must be comma-separated integers, got {s!r}")
        out.append(int(v))
    if not out:
        raise HDOInputError("at must list at least one step")
    return out


def _fmt(v: float) -> str:
    return "n/a" if math.isnan(v) else f"{v:.6g}"


def table(r) -> str:
    names = list(r.metrics)
    head = ["t", *names]
    rows = [[str(int(t))] + [_fmt(float(r[k][i])) for k in names] for i, t in enumerate(r.t)]
    w = [max(len(h), *(len(row[j]) for row in rows)) for j, h in enumerate(head)]
    lines = ["  ".join(h.rjust(w[j]) for j, h in enumerate(head))]
    lines += ["  ".join(c.rjust(w[j]) for j, c in enumerate(row)) for row in rows]
    return "\n".join(lines)


def run(args) -> int:
    from hdo_theory.exact import expected_dynamics

    values = resolve_options(args)
    obj, cfg = build(values)
    at = parse_at(getattr(args, "at", None))
    r = expected_dynamics(obj, cfg, at=at)
    if getattr(args, "json", False):
        print(json.dumps(jsonable(r.as_dict()), allow_nan=False))
    else:
        unit = "rounds" if cfg.model == "matching" else "interactions"
        print(f"hdo-theory exact: {obj.describe()}, model={cfg.model}, T={cfg.T} ({unit}); "
              f"exact expectations", file=sys.stdout)
        print(table(r))
        print(f"wall time (s)  {r.info['wall_time_s']:.3g}")
    return 0
