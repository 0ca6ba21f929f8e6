"""Train the small LeNet bundled with hwconv and export it to ONNX.

Run from the repository root:  .venv/bin/python scripts/train_lenet.py

Reads data/mnist_5k.csv.gz (5,000 real MNIST digits, see data/README.md) and
writes hwconv/models/lenet.onnx plus hwconv/models/digits.npz (calibration
images, held-out test images, labels and the float model's predictions), so
that the fixed-point hardware can later be checked against the float model.
Everything is seeded and single-threaded: two runs give identical files.
"""
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
CSV = ROOT / "data" / "mnist_5k.csv.gz"
OUT = ROOT / "hwconv" / "models"
N_TRAIN, EPOCHS, BATCH, LR, SHIFT = 4000, 40, 64, 3e-3, 2

# Determinism: fixed seeds, deterministic kernels, one thread (so float
# reductions are always summed in the same order).
torch.manual_seed(0)
torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)

# Each row: 784 pixels (0-255, row-major 28x28) then the label. The file is
# sorted by class, so a fixed shuffle is needed before splitting.
raw = np.loadtxt(CSV, delimiter=",", dtype=np.int64)
x = (raw[:, :784].astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)
y = raw[:, 784]
perm = np.random.default_rng(0).permutation(len(y))
x_train, y_train = x[perm[:N_TRAIN]], y[perm[:N_TRAIN]]
x_test, y_test = x[perm[N_TRAIN:]], y[perm[N_TRAIN:]]

# Only layers the hardware generator supports: Conv, ReLU, MaxPool, Flatten,
# Linear. No dropout or batchnorm, so train and eval graphs are the same.
model = nn.Sequential(
    nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),   # 1x28x28 -> 6x12x12
    nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),  # -> 16x4x4
    nn.Flatten(),                                      # -> 256
    nn.Linear(256, 32), nn.ReLU(),
    nn.Linear(32, 10),                                 # logits, no softmax
)


def random_shift(xb, gen):
    """Move each image by up to SHIFT pixels each way (zero fill).

    With only 4,000 training digits the net overfits (train 100%, test ~96%);
    small translations are the cheapest augmentation that lifts test accuracy.
    """
    n, r = len(xb), torch.arange(28)
    d = torch.randint(0, 2 * SHIFT + 1, (2, n), generator=gen)
    padded = nn.functional.pad(xb, (SHIFT,) * 4)
    rows, cols = (d[0][:, None] + r)[:, :, None], (d[1][:, None] + r)[:, None, :]
    return padded[torch.arange(n)[:, None, None], 0, rows, cols].unsqueeze(1)


xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
opt = torch.optim.Adam(model.parameters(), lr=LR)
steps_per_epoch = -(-N_TRAIN // BATCH)
# Cosine decay to zero: a high start lr for speed, a small end lr so the
# final weights settle instead of bouncing between minibatches.
sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, EPOCHS * steps_per_epoch)
loss_fn = nn.CrossEntropyLoss()
gen = torch.Generator().manual_seed(0)  # batch order and shifts, apart from init
model.train()
for epoch in range(EPOCHS):
    for idx in torch.randperm(N_TRAIN, generator=gen).split(BATCH):
        opt.zero_grad()
        loss_fn(model(random_shift(xt[idx], gen)), yt[idx]).backward()
        opt.step()
        sched.step()
model.eval()
with torch.no_grad():
    torch_logits = model(torch.from_numpy(x_test)).numpy()
print(f"torch test accuracy: {(torch_logits.argmax(1) == y_test).mean():.4f}")

# Export with the TorchScript exporter (dynamo=False): the dynamo exporter
# needs onnxscript, which is not a project dependency. Static 1x1x28x28 input,
# because the streaming hardware takes one image at a time.
onnx_path = OUT / "lenet.onnx"
torch.onnx.export(model, (torch.zeros(1, 1, 28, 28),), str(onnx_path),
                  dynamo=False, opset_version=13, input_names=["input"],
                  output_names=["logits"])
proto = onnx.load(str(onnx_path))
onnx.checker.check_model(proto, full_check=True)
ops = [n.op_type for n in proto.graph.node]
print("ONNX ops:", " ".join(ops))
assert set(ops) <= {"Conv", "Relu", "MaxPool", "Flatten", "Gemm"}, ops

# Check the exported graph against torch, one image at a time (static batch).
sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
ort_logits = np.concatenate([sess.run(["logits"], {"input": img[None]})[0]
                             for img in x_test])
diff = np.abs(ort_logits - torch_logits).max()
print(f"max |onnxruntime - torch| on test set: {diff:.2e}")
assert diff < 1e-4, diff
ort_pred = ort_logits.argmax(1).astype(np.int64)
print(f"onnxruntime test accuracy: {(ort_pred == y_test).mean():.4f} "
      f"({len(y_test)} held-out digits)")

# Bundled data: calibration images (for choosing fixed-point scales) come from
# the training split; test images, labels and float predictions from the test split.
np.savez_compressed(
    OUT / "digits.npz",
    calibration=x_train[:100],
    test_x=x_test[:500],
    test_y=y_test[:500].astype(np.int64),
    float_top1=ort_pred[:500],
)
print("wrote", onnx_path, "and", OUT / "digits.npz")
