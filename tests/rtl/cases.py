"""Unit cases shared by the pysim and Verilator benches: (id, kind, input shape, options, lanes)."""

UNIT_CASES = [
    ("relu", "relu", (3, 4, 5), {}, 1),
    ("maxpool2", "maxpool", (2, 6, 6), dict(kernel=(2, 2), stride=(2, 2)), 1),
    ("maxpool3s1", "maxpool", (2, 5, 7), dict(kernel=(3, 3), stride=(1, 1)), 1),
    ("conv3pad", "conv", (2, 6, 7), dict(kernel=(3, 3), pads=(1, 1, 1, 1)), 4),
    ("conv3s2asym", "conv", (2, 7, 7), dict(kernel=(3, 3), stride=(2, 2), pads=(0, 1, 1, 0)), 5),
    ("conv5full", "conv", (1, 8, 8), dict(kernel=(5, 5), outputs=3), 25),
    ("conv1x1", "conv", (3, 3, 4), dict(kernel=(1, 1), outputs=2), 1),
    ("linear_map", "linear", (3, 2, 2), dict(outputs=5), 4),
    ("linear_vec", "linear", (7, 1, 1), dict(outputs=3), 7),
]
