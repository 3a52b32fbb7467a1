"""Why does a run rank rare (tail) items low? Figures for docs/BACKBONES.md, from saved run folders.

    python benchmarks/tail_analysis.py RUN [RUN ...]

One JSON line per run with ``motor.explore.tail.rare_item_ranks``: where the user's tail test item
(1 to 5 training interactions) ranks among the items the user has not trained on; for MOTOR runs,
whether the 10 items sharing most tokens with it (with every item tied with the 10th) are more
popular and ranked above it; how the scores follow the training degree; and the item vectors'
norms, tail against the 20% most popular items. (The Compare page of the app shows the same.)
"""

from __future__ import annotations

import argparse
import json

from motor.explore.tail import rare_item_ranks
from motor.runs import LoadedRun


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("runs", nargs="+", help="run folders (python -m motor train --out RUN)")
    for path in p.parse_args().runs:
        got = rare_item_ranks(LoadedRun.load(path))
        print(json.dumps({"run": path, **{k: round(v, 4) if isinstance(v, float) else v for k, v in got.items()}}))


if __name__ == "__main__":
    main()
