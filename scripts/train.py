"""Train the forecaster: the same as `vidtrack train`, as a script that `torchrun` can launch.

    .venv/bin/python scripts/train.py --data ../shared/data/MOT17/train --out runs/forecaster
    .venv/bin/torchrun --nproc_per_node 2 scripts/train.py --data ... --out ...
"""

import sys

from vidtrack.cli import main

if __name__ == "__main__":
    main(["train", *sys.argv[1:]])
