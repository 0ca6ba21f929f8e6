"""Errors users see: one line that names what is wrong and what to change."""
from __future__ import annotations


class HwconvError(Exception):
    """Base of every error hwconv reports to users without a traceback."""


class CompileError(HwconvError):
    """A model hwconv cannot compile, naming the node, its op and the attribute.

    ``str(e)`` reads ``conv3 (Conv): dilation 2 is not supported; ...``.
    """

    def __init__(self, message: str, *, node: str | None = None, op: str | None = None,
                 attribute: str | None = None):
        self.node, self.op, self.attribute, self.detail = node, op, attribute, message
        where = ""
        if node is not None:
            where = f"{node} ({op}): " if op else f"{node}: "
        super().__init__(where + message)
