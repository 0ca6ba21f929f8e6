"""Clocks and resets of a Virtex-6 board top: one MMCM, a BUFG per clock, reset synchronizers.

The board's input clock (200 MHz on the ML605) feeds an MMCM_BASE whose outputs become Amaranth
clock domains (``sync`` at the core clock, ``eth`` at 125 MHz for GMII). Every domain is held
in reset until the MMCM has locked, and its reset is released synchronously to its own clock
(`amaranth.lib.cdc.ResetSynchronizer`, FDPE chains on Xilinx). ISE derives the PERIOD
constraints of the MMCM outputs from the TIMESPEC on the input pin, so the UCF only needs that.
"""
from __future__ import annotations

from dataclasses import dataclass

from amaranth import ClockSignal, Const, Elaboratable, Instance, Module, Signal
from amaranth.lib.cdc import ResetSynchronizer

from ..errors import HwconvError

__all__ = ["ClockingError", "MMCMConfig", "mmcm_config", "Virtex6Clocking"]

# Virtex-6 -1 speed grade MMCM limits (DS152): input divider D 1..80, feedback multiplier M
# 5..64, phase-detector 10..450 MHz, VCO 600..1200 MHz, output dividers 1..128.
VCO_MHZ = (600.0, 1200.0)
PFD_MHZ = (10.0, 450.0)


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


def mmcm_config(in_hz: float, out_hz: list[float]) -> MMCMConfig:
    """The MMCM settings giving exactly ``out_hz`` from ``in_hz``, highest VCO first (less
    jitter), then the smallest input divider. Raises ClockingError naming the frequencies when there is none."""
    if not 1 <= len(out_hz) <= 7:
        raise ValueError(f"an MMCM has 1 to 7 outputs, not {len(out_hz)}")
    best = None
    for d in range(1, 81):
        pfd = in_hz / d / 1e6
        if not PFD_MHZ[0] <= pfd <= PFD_MHZ[1]:
            continue
        for mult in range(5, 65):
            vco = pfd * mult
            if not VCO_MHZ[0] <= vco <= VCO_MHZ[1]:
                continue
            divs = []
            for f in out_hz:
                o = round(vco * 1e6 / f)
                if not 1 <= o <= 128 or abs(vco * 1e6 / o - f) > 1e-3:
                    break
                divs.append(o)
            else:
                if best is None or vco > best.vco_hz / 1e6 + 1e-6:
                    best = MMCMConfig(in_hz, d, mult, tuple(divs))
    if best is None:
        wanted = ", ".join(f"{f / 1e6:g} MHz" for f in out_hz)
        raise ClockingError(f"the Virtex-6 MMCM cannot make {wanted} exactly from "
                            f"{in_hz / 1e6:g} MHz (VCO {VCO_MHZ[0]:g}-{VCO_MHZ[1]:g} MHz, "
                            f"integer dividers); choose a clock that divides a VCO frequency "
                            f"in that range, e.g. 100, 125, 150 or 200 MHz")
    return best


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
