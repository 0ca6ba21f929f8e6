"""The Xilinx SP605 (XC6SLX45T-3FGG484) board file.

The definition itself, with its pin tables and their sources, is hwconv/boards/sp605.py:
it lives inside the package so that `pip install hwconv` ships it. This file re-exports it
for scripts run from a source checkout (``python -c "from boards.sp605 import SP605Platform"``).
"""
from hwconv.boards.sp605 import *            # noqa: F401,F403
from hwconv.boards.sp605 import SP605Platform  # noqa: F401
