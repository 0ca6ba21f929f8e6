"""Boards hwconv builds for: one module per board, each an Amaranth platform.

The board files live inside the package (``hwconv/boards/<board>.py``) rather than only in the
repository's top-level ``boards/`` folder so that ``pip install hwconv`` ships them and
``hwconv build --board ml605`` works outside a source checkout; ``boards/`` at the top of the
repository points here.
"""
from __future__ import annotations

import importlib

from ..errors import HwconvError

__all__ = ["BOARDS", "UnknownBoardError", "board_platform"]

# board name -> "module:class"
BOARDS = {
    "ml605": "hwconv.boards.ml605:ML605Platform",
    "sp605": "hwconv.boards.sp605:SP605Platform",
}


class UnknownBoardError(HwconvError):
    pass


def board_platform(name: str, **kwargs):
    """A fresh Amaranth platform for the board called ``name`` (e.g. ``"ml605"``)."""
    if name not in BOARDS:
        raise UnknownBoardError(f"--board {name}: unknown board; known boards: "
                                f"{', '.join(sorted(BOARDS))}")
    module, cls = BOARDS[name].split(":")
    return getattr(importlib.import_module(module), cls)(**kwargs)
