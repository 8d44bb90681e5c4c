"""The upper limits of the inputs, in one place: the stage modules check them and the option
schema (:mod:`hdo_theory.runs.options`) reports them, from the same numbers.

This module imports nothing, so the command line's ``--help`` can read it without loading the
stages (NumPy, Numba).
"""

#: Largest T (interactions or rounds). Far beyond any feasible run (about four months at 1e8
#: interactions per second) and small enough that step counters, and T * (n // 2) interactions
#: of a matching run with n up to 9000 nodes, stay within int64.
MAX_T = 10**15
#: Largest data set (samples) and so largest population: every shard holds a sample.
MAX_N_SAMPLES = 10_000_000
#: Largest dimension of the synthetic objectives.
MAX_D = 100_000
#: Most random directions averaged by one estimate.
MAX_RV = 1_000_000
#: Most log-spaced records of a run.
MAX_RECORD_POINTS = 1_000_000
#: Most replicas of one ``simulate`` call.
MAX_REPLICAS = 10_000_000
#: Most worker threads of one ``simulate`` call.
MAX_THREADS = 4096
