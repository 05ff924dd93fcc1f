"""`python -m detr_model`: see detr_model.cli."""

import sys

from detr_model.cli import main

if __name__ == "__main__":
    sys.exit(main())
