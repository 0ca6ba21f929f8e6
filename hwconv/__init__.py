"""hwconv: trained convnets to bit-exact streaming fixed-point hardware for Virtex-6 FPGAs."""
from .design import Design, compile
from .errors import CompileError, HwconvError

__all__ = ["compile", "Design", "CompileError", "HwconvError"]
__version__ = "0.1.0"
