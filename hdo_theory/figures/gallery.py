"""Write ``docs/gallery.md`` from a folder of made figures (PNG + summary JSON per figure).

``python -m hdo_theory.figures.gallery FIG_DIR MD_PATH [--claims FILE]`` lists every figure in
order with its image, caption and the commands that make it (quick and full). ``--claims``
inserts a hand-written Markdown section (the claims 4-7 verdicts, kept in
``docs/gallery/claims.md``) after figure 7::

    python -m hdo_theory.figures.gallery docs/gallery docs/gallery.md \
        --claims docs/gallery/claims.md
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from hdo_theory.atomic import write_text_atomic
from hdo_theory.figures import CAPTIONS


def gallery_markdown(fig_dir, md_path, claims: str = "") -> str:
    fig_dir, md_path = Path(fig_dir), Path(md_path)
    rel = os.path.relpath(fig_dir, md_path.parent)
    out = ["# Gallery", "",
           "Every figure of `hdo-theory figures`, made with `--quick` (small runs; the full "
           "versions use more replicas, longer horizons and finer grids). The command also "
           "writes each figure as a vector PDF (not committed here), and its caption file "
           "(`<name>.caption.md`, committed next to the PNG) holds the numbers it quotes, every "
           "run's full configuration and seed, and the command.", "",
           "Regenerate all of them (results are stored in `OUT/results` and reused):", "",
           "```", "hdo-theory figures --quick --out docs/gallery", "```", "",
           "Re-plot from stored results without running anything:", "",
           "```", "hdo-theory figures --quick --from docs/gallery/results --out docs/gallery",
           "```", "", "(The results folder itself is not committed: rerun without `--from` "
           "to make it.)", ""]
    for name, (num, cap) in sorted(CAPTIONS.items(), key=lambda kv: kv[1][0]):
        png = fig_dir / f"{name}.png"
        out += [f"## {num}. {name}", ""]
        if png.exists():
            out += [f"![{name}]({rel}/{name}.png)", ""]
        else:
            out += ["*(not made yet)*", ""]
        out += [cap, "",
                f"Quick: `hdo-theory figures --quick --only {name} --out docs/gallery`  ",
                f"Full: `hdo-theory figures --only {name} --out figures`", ""]
        if num == 7 and claims:
            out += [claims.strip(), ""]
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("fig_dir")
    ap.add_argument("md_path")
    ap.add_argument("--claims", default=None)
    a = ap.parse_args(argv)
    claims = Path(a.claims).read_text() if a.claims else ""
    write_text_atomic(a.md_path, gallery_markdown(a.fig_dir, a.md_path, claims))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
