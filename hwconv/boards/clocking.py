"""Clocks and resets of a board top: one MMCM (Virtex-6) or PLL (Spartan-6), a BUFG per clock,
reset synchronizers.

The board's input clock (200 MHz on the ML605) feeds an MMCM_BASE whose outputs become Amaranth
clock domains (``sync`` at the core clock, ``eth`` at 125 MHz for GMII). Every domain is held
in reset until the MMCM has locked, and its reset is released synchronously to its own clock
(`amaranth.lib.cdc.ResetSynchronizer`, FDPE chains on Xilinx). ISE derives the PERIOD
constraints of the MMCM outputs from the TIMESPEC on the input pin, so the UCF only needs that.

Spartan-6 has no MMCM: `Spartan6Clocking` does the same with a PLL_BASE (integer feedback
multiplier, its own VCO and phase-detector ranges, `pll_config`). `clocking_for(family)` picks
the one for an Amaranth ``XilinxPlatform.family``; other families are refused by name.
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth import ClockSignal, Const, Elaboratable, Instance, Module, Signal
from amaranth.lib.cdc import ResetSynchronizer

from ..errors import HwconvError

__all__ = ["ClockingError", "MMCMConfig", "mmcm_config", "pll_config", "Virtex6Clocking",
           "Spartan6Clocking", "clocking_for"]

# Virtex-6 -1 speed grade MMCM limits (DS152): input divider D 1..80, feedback multiplier M
# 5..64, phase-detector 10..450 MHz, VCO 600..1200 MHz, output dividers 1..128.
VCO_MHZ = (600.0, 1200.0)
PFD_MHZ = (10.0, 450.0)

# Spartan-6 PLL_BASE (DS162): input divider D 1..52, feedback multiplier M 1..64, output
# dividers 1..128; VCO 400..1000 MHz and phase detector 19..400 MHz, the -2 speed grade's
# ranges, which the faster -3 grade (SP605) also meets.
S6_VCO_MHZ = (400.0, 1000.0)
S6_PFD_MHZ = (19.0, 400.0)


class ClockingError(HwconvError):
    pass


@dataclass(frozen=True)
class MMCMConfig:
    """MMCM settings: f_vco = f_in * mult / divclk, output k = f_vco / dividers[k]."""

    in_hz: float
    divclk: int
    mult: int
    dividers: tuple[int, ...]

    @property
    def vco_hz(self) -> float:
        return self.in_hz * self.mult / self.divclk

    def out_hz(self, k: int) -> float:
        return self.vco_hz / self.dividers[k]


def _search(in_hz, out_hz, *, divclk, mult, vco, pfd, what):
    best = None
    for d in divclk:
        f_pfd = in_hz / d / 1e6
        if not pfd[0] <= f_pfd <= pfd[1]:
            continue
        for m in mult:
            f_vco = f_pfd * m
            if not vco[0] <= f_vco <= vco[1]:
                continue
            divs = []
            for f in out_hz:
                o = round(f_vco * 1e6 / f)
                if not 1 <= o <= 128 or abs(f_vco * 1e6 / o - f) > 1e-3:
                    break
                divs.append(o)
            else:
                if best is None or f_vco > best.vco_hz / 1e6 + 1e-6:
                    best = MMCMConfig(in_hz, d, m, tuple(divs))
    if best is None:
        wanted = ", ".join(f"{f / 1e6:g} MHz" for f in out_hz)
        raise ClockingError(f"the {what} cannot make {wanted} exactly from "
                            f"{in_hz / 1e6:g} MHz (VCO {vco[0]:g}-{vco[1]:g} MHz, "
                            f"integer dividers); choose a clock that divides a VCO frequency "
                            f"in that range, e.g. 100, 125, 150 or 200 MHz")
    return best


def mmcm_config(in_hz: float, out_hz: list[float]) -> MMCMConfig:
    """The MMCM settings giving exactly ``out_hz`` from ``in_hz``, highest VCO first (less
    jitter), then the smallest input divider. Raises ClockingError naming the frequencies
    when there is none."""
    if not 1 <= len(out_hz) <= 7:
        raise ValueError(f"an MMCM has 1 to 7 outputs, not {len(out_hz)}")
    return _search(in_hz, out_hz, divclk=range(1, 81), mult=range(5, 65), vco=VCO_MHZ,
                   pfd=PFD_MHZ, what="Virtex-6 MMCM")


def pll_config(in_hz: float, out_hz: list[float]) -> MMCMConfig:
    """The Spartan-6 PLL_BASE settings giving exactly ``out_hz`` from ``in_hz`` (same order of
    preference as `mmcm_config`); ClockingError when there are none."""
    if not 1 <= len(out_hz) <= 6:
        raise ValueError(f"a PLL_BASE has 1 to 6 outputs, not {len(out_hz)}")
    return _search(in_hz, out_hz, divclk=range(1, 53), mult=range(1, 65), vco=S6_VCO_MHZ,
                   pfd=S6_PFD_MHZ, what="Spartan-6 PLL")


class Virtex6Clocking(Elaboratable):
    """MMCM_BASE from ``clk_in`` to one clock domain per entry of ``domains`` (name -> Hz).

    The domains themselves are defined by the caller (the board top) with ``ClockDomain(name)``;
    this drives their clocks and resets. ``reset_in`` (active high, asynchronous, e.g. the CPU
    reset button) resets the MMCM and so every domain. ``locked`` is the MMCM's LOCKED output (asynchronous to every domain).
    """

    def __init__(self, clk_in, reset_in, *, in_hz: float, domains: dict[str, float]):
        self.clk_in, self.reset_in, self.domains = clk_in, reset_in, dict(domains)
        self.config = mmcm_config(in_hz, list(self.domains.values()))
        self.locked = Signal()

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        feedback = Signal()
        outs = [Signal(name=f"mmcm_{name}") for name in self.domains]
        params = dict(
            p_BANDWIDTH="OPTIMIZED",
            p_CLKIN1_PERIOD=round(1e9 / cfg.in_hz, 3),
            p_DIVCLK_DIVIDE=cfg.divclk,
            p_CLKFBOUT_MULT_F=float(cfg.mult),
            p_CLKFBOUT_PHASE=0.0,
            p_REF_JITTER1=0.01,
            p_STARTUP_WAIT="FALSE",
            i_CLKIN1=self.clk_in,
            i_CLKFBIN=feedback,
            o_CLKFBOUT=feedback,
            i_RST=self.reset_in,
            i_PWRDWN=Const(0),
            o_LOCKED=self.locked,
        )
        for k, (out, div) in enumerate(zip(outs, cfg.dividers)):
            if k == 0:
                params["p_CLKOUT0_DIVIDE_F"] = float(div)
            else:
                params[f"p_CLKOUT{k}_DIVIDE"] = div
            params[f"p_CLKOUT{k}_DUTY_CYCLE"] = 0.5
            params[f"p_CLKOUT{k}_PHASE"] = 0.0
            params[f"o_CLKOUT{k}"] = out
        m.submodules.mmcm = Instance("MMCM_BASE", **params)

        for name, out in zip(self.domains, outs):
            m.submodules[f"bufg_{name}"] = Instance("BUFG", i_I=out, o_O=ClockSignal(name))
            m.submodules[f"rst_{name}"] = ResetSynchronizer(~self.locked, domain=name)
        return m


class Spartan6Clocking(Elaboratable):
    """PLL_BASE from ``clk_in`` to one clock domain per entry of ``domains`` (name -> Hz): the
    Spartan-6 counterpart of `Virtex6Clocking`, with the same ports (``locked``) and the same
    BUFG and reset synchronizer per domain."""

    primitive = "PLL_BASE"

    def __init__(self, clk_in, reset_in, *, in_hz: float, domains: dict[str, float]):
        self.clk_in, self.reset_in, self.domains = clk_in, reset_in, dict(domains)
        self.config = pll_config(in_hz, list(self.domains.values()))
        self.locked = Signal()

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        feedback = Signal()
        outs = [Signal(name=f"pll_{name}") for name in self.domains]
        params = dict(
            p_BANDWIDTH="OPTIMIZED",
            p_CLK_FEEDBACK="CLKFBOUT",
            p_COMPENSATION="SYSTEM_SYNCHRONOUS",
            p_CLKIN_PERIOD=round(1e9 / cfg.in_hz, 3),
            p_DIVCLK_DIVIDE=cfg.divclk,
            p_CLKFBOUT_MULT=cfg.mult,
            p_CLKFBOUT_PHASE=0.0,
            p_REF_JITTER=0.01,
            i_CLKIN=self.clk_in,
            i_CLKFBIN=feedback,
            o_CLKFBOUT=feedback,
            i_RST=self.reset_in,
            o_LOCKED=self.locked,
        )
        for k, (out, div) in enumerate(zip(outs, cfg.dividers)):
            params[f"p_CLKOUT{k}_DIVIDE"] = div
            params[f"p_CLKOUT{k}_DUTY_CYCLE"] = 0.5
            params[f"p_CLKOUT{k}_PHASE"] = 0.0
            params[f"o_CLKOUT{k}"] = out
        m.submodules.pll = Instance("PLL_BASE", **params)

        for name, out in zip(self.domains, outs):
            m.submodules[f"bufg_{name}"] = Instance("BUFG", i_I=out, o_O=ClockSignal(name))
            m.submodules[f"rst_{name}"] = ResetSynchronizer(~self.locked, domain=name)
        return m


Virtex6Clocking.primitive = "MMCM_BASE"
Virtex6Clocking.config_for = staticmethod(mmcm_config)
Spartan6Clocking.config_for = staticmethod(pll_config)

# Amaranth XilinxPlatform.family -> the clocking hwconv's board tops use there.
CLOCKING = {"virtex6": Virtex6Clocking, "spartan6": Spartan6Clocking}


def clocking_for(family: str):
    """The clocking class (`Virtex6Clocking`, `Spartan6Clocking`) for a Xilinx family; a
    ClockingError names the families hwconv can clock."""
    if family not in CLOCKING:
        raise ClockingError(f"no board clocking for the Xilinx {family} family (hwconv makes "
                            f"its clocks with the Virtex-6 MMCM or the Spartan-6 PLL: "
                            f"{', '.join(sorted(CLOCKING))})")
    return CLOCKING[family]
