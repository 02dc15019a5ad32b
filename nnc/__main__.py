"""``python -m nnc``: the same as the ``nnc`` command."""
import sys

from nnc.cli import main

if __name__ == "__main__":
    sys.exit(main())
