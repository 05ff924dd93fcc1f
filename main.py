"""Start DETR Studio from a checkout: ``python main.py [FOLDER_OR_PROJECT]``."""

import sys

from app.application import main

if __name__ == "__main__":
    sys.exit(main())
