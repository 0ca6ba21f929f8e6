"""Behavioural stand-ins for the Xilinx primitives a board top instantiates, so that Verilator
can lint and simulate the whole top (``top.v`` of a build plan) without Xilinx's UNISIM library.

They model function, not timing, and the clocking blocks least of all: ``MMCM_BASE`` and
``PLL_BASE`` pass CLKIN straight to CLKOUT0 and divide it by two for CLKOUT1 (every other
output is CLKIN too), and raise LOCKED 16 input cycles after RST falls. Real frequencies,
phases and jitter are ISE's business (the MMCM/PLL settings are checked in
`hwconv.boards.clocking`); what the stand-ins let a simulation check is everything around them:
the reset synchronizers releasing each domain after lock, the two clock domains, the self-test
driving the network, the checker and the LEDs. I/O buffers pass data through (an output's
tri-state enable is ignored except by IOBUF), DDR outputs give their rising-edge data in the
clock's high half and their falling-edge data in its low half (so the GMII transmit clock the
board top forwards through one toggles at the pin, and a bench can clock on it).

`PRIMITIVES` holds each stand-in's Verilog; `with_sim_primitives(top_v)` appends those that
``top_v`` uses. tests/boards/test_board_verilator.py lints and simulates the board tops so.
"""
from __future__ import annotations

__all__ = ["PRIMITIVES", "with_sim_primitives"]

_CLOCKING = """
module {name} #(parameter BANDWIDTH = "OPTIMIZED", parameter real CLKIN{suffix}_PERIOD = 0.0,
  parameter integer DIVCLK_DIVIDE = 1, parameter {mult_type} CLKFBOUT_MULT{mult_suffix} = 5,
  parameter real CLKFBOUT_PHASE = 0.0, parameter real REF_JITTER{suffix} = 0.0,
  {extra_params}
  parameter {div0_type} CLKOUT0_DIVIDE{div0_suffix} = 1, parameter integer CLKOUT1_DIVIDE = 1,
  parameter integer CLKOUT2_DIVIDE = 1, parameter integer CLKOUT3_DIVIDE = 1,
  parameter integer CLKOUT4_DIVIDE = 1, parameter integer CLKOUT5_DIVIDE = 1,
  parameter real CLKOUT0_DUTY_CYCLE = 0.5, parameter real CLKOUT1_DUTY_CYCLE = 0.5,
  parameter real CLKOUT2_DUTY_CYCLE = 0.5, parameter real CLKOUT3_DUTY_CYCLE = 0.5,
  parameter real CLKOUT4_DUTY_CYCLE = 0.5, parameter real CLKOUT5_DUTY_CYCLE = 0.5,
  parameter real CLKOUT0_PHASE = 0.0, parameter real CLKOUT1_PHASE = 0.0,
  parameter real CLKOUT2_PHASE = 0.0, parameter real CLKOUT3_PHASE = 0.0,
  parameter real CLKOUT4_PHASE = 0.0, parameter real CLKOUT5_PHASE = 0.0)
 (input CLKIN{suffix}, input CLKFBIN, input RST, {ports}
  output CLKFBOUT, output CLKOUT0, output reg CLKOUT1 = 1'b0, output CLKOUT2, output CLKOUT3,
  output CLKOUT4, output CLKOUT5, output reg LOCKED = 1'b0);
  reg [4:0] count = 5'd0;
  assign CLKFBOUT = CLKIN{suffix};
  assign CLKOUT0 = CLKIN{suffix};
  assign CLKOUT2 = CLKIN{suffix};
  assign CLKOUT3 = CLKIN{suffix};
  assign CLKOUT4 = CLKIN{suffix};
  assign CLKOUT5 = CLKIN{suffix};
  always @(posedge CLKIN{suffix}) CLKOUT1 <= ~CLKOUT1;
  always @(posedge CLKIN{suffix} or posedge RST)
    if (RST) begin count <= 5'd0; LOCKED <= 1'b0; end
    else if (count != 5'd16) count <= count + 5'd1;
    else LOCKED <= 1'b1;
endmodule
"""

PRIMITIVES = {
    "MMCM_BASE": _CLOCKING.format(
        name="MMCM_BASE", suffix="1", mult_type="real", mult_suffix="_F",
        div0_type="real", div0_suffix="_F", ports="input PWRDWN,",
        extra_params='parameter STARTUP_WAIT = "FALSE", parameter integer CLKOUT6_DIVIDE = 1,'),
    "PLL_BASE": _CLOCKING.format(
        name="PLL_BASE", suffix="", mult_type="integer", mult_suffix="",
        div0_type="integer", div0_suffix="", ports="",
        extra_params='parameter CLK_FEEDBACK = "CLKFBOUT", '
                     'parameter COMPENSATION = "SYSTEM_SYNCHRONOUS",'),
    "BUFG": "module BUFG(input I, output O); assign O = I; endmodule\n",
    "IBUF": "module IBUF(input I, output O); assign O = I; endmodule\n",
    "IBUFDS": "module IBUFDS(input I, input IB, output O); assign O = I; endmodule\n",
    "OBUF": "module OBUF(input I, output O); assign O = I; endmodule\n",
    "OBUFT": "module OBUFT(input I, input T, output O); assign O = I; endmodule\n",
    "IOBUF": "module IOBUF(input I, input T, output O, inout IO);\n"
             "  assign IO = T ? 1'bz : I;\n  assign O = IO;\nendmodule\n",
    # DDR outputs: D1 (ODDR2: D0) out from the rising edge, D2 (D1) from the falling edge,
    # both sampled on the rising edge (ODDR SAME_EDGE, ODDR2 DDR_ALIGNMENT "C0" with
    # C1 = ~C0), so a clock forwarded through one toggles at the pin.
    "ODDR": 'module ODDR #(parameter DDR_CLK_EDGE = "SAME_EDGE", parameter INIT = 1\'b0,\n'
            '  parameter SRTYPE = "SYNC") (input C, input CE, input D1, input D2, input R,\n'
            '  input S, output Q);\n'
            '  reg q1 = INIT, q2 = INIT, d2 = INIT;\n'
            '  always @(posedge C) if (CE) begin q1 <= D1; d2 <= D2; end\n'
            '  always @(negedge C) if (CE) q2 <= d2;\n'
            '  assign Q = C ? q1 : q2;\nendmodule\n',
    "ODDR2": 'module ODDR2 #(parameter DDR_ALIGNMENT = "NONE", parameter INIT = 1\'b0,\n'
             '  parameter SRTYPE = "SYNC") (input C0, input C1, input CE, input D0, input D1,\n'
             '  input R, input S, output Q);\n'
             '  reg q0 = INIT, q1 = INIT, d1 = INIT;\n'
             '  always @(posedge C0) if (CE) begin q0 <= D0; d1 <= D1; end\n'
             '  always @(posedge C1) if (CE) q1 <= DDR_ALIGNMENT == "C0" ? d1 : D1;\n'
             '  assign Q = C0 ? q0 : q1;\nendmodule\n',
    "FDPE": "module FDPE #(parameter INIT = 1'b1) (input C, input CE, input D, input PRE,\n"
            "  output reg Q = INIT);\n"
            "  always @(posedge C or posedge PRE) if (PRE) Q <= 1'b1; else if (CE) Q <= D;\n"
            "endmodule\n",
    "FDCE": "module FDCE #(parameter INIT = 1'b0) (input C, input CE, input D, input CLR,\n"
            "  output reg Q = INIT);\n"
            "  always @(posedge C or posedge CLR) if (CLR) Q <= 1'b0; else if (CE) Q <= D;\n"
            "endmodule\n",
}


def with_sim_primitives(top_v: str) -> str:
    """``top_v`` (a board top's Verilog) followed by the stand-ins of the primitives it uses."""
    used = [name for name in PRIMITIVES if f"\n  {name} " in top_v or f"\n  {name}\n" in top_v]
    return (top_v + "\n// Behavioural stand-ins for Xilinx primitives "
            "(hwconv.boards.sim_primitives): function only, for Verilator; not for synthesis.\n"
            "/* verilator lint_off UNUSEDSIGNAL */\n/* verilator lint_off UNUSEDPARAM */\n"
            + "".join(PRIMITIVES[name] for name in used) +
            "/* verilator lint_on UNUSEDSIGNAL */\n/* verilator lint_on UNUSEDPARAM */\n")
