"""``python -m fer``: the command line, which lives in ``fer.cli.main``."""
import sys

from fer.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
