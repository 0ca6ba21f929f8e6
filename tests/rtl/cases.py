"""Unit cases shared by the pysim and Verilator benches: (id, kind, input shape, options, lanes)."""

UNIT_CASES = [
    ("relu", "relu", (3, 4, 5), {}, 1),
    ("threshold", "threshold", (3, 4, 5), dict(threshold=0.3, value=-0.7), 1),
    ("hardtanh", "hardtanh", (2, 4, 5), dict(min_val=-0.5, max_val=1.25), 1),
    ("abs", "abs", (2, 4, 5), {}, 1),
    ("softshrink", "shrink", (2, 4, 5), dict(lambd=0.5, bias=0.5), 1),
    ("hardshrink", "shrink", (2, 4, 5), dict(lambd=0.25), 1),
    ("tanh", "tanh", (3, 4, 5), {}, 1),
    ("sigmoid", "sigmoid", (2, 4, 5), {}, 1),
    ("maxpool2", "maxpool", (2, 6, 6), dict(kernel=(2, 2), stride=(2, 2)), 1),
    ("maxpool3s1", "maxpool", (2, 5, 7), dict(kernel=(3, 3), stride=(1, 1)), 1),
    ("conv3pad", "conv", (2, 6, 7), dict(kernel=(3, 3), pads=(1, 1, 1, 1)), 4),
    ("conv3s2asym", "conv", (2, 7, 7), dict(kernel=(3, 3), stride=(2, 2), pads=(0, 1, 1, 0)), 5),
    ("conv5full", "conv", (1, 8, 8), dict(kernel=(5, 5), outputs=3), 25),
    ("conv1x1", "conv", (3, 3, 4), dict(kernel=(1, 1), outputs=2), 1),
    ("linear_map", "linear", (3, 2, 2), dict(outputs=5), 4),
    ("linear_vec", "linear", (7, 1, 1), dict(outputs=3), 7),
]
