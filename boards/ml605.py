"""The Xilinx ML605 (XC6VLX240T-1FF1156) board file.

The definition itself, with its pin tables and their sources, is hwconv/boards/ml605.py:
it lives inside the package so that `pip install hwconv` ships it. This file re-exports it
for scripts run from a source checkout (``python -c "from boards.ml605 import ML605Platform"``).
"""
from hwconv.boards.ml605 import *            # noqa: F401,F403
from hwconv.boards.ml605 import ML605Platform  # noqa: F401
