"""Per-layer settings a user pins in a TOML file (``hwconv compile --config FILE``).

::

    bits = 12                   # every layer's width, as --bits (optional)

    [layers."/0/Conv"]          # a node name, as the report lists them
    bits = 8                    # this layer's output width; fractional bits from calibration
    frac = 5                    # ... or pinned too (values beyond the range saturate)
    weight_bits = 8             # weighted layers: the weights' width and fractional bits
    weight_frac = 7
    lanes = 25                  # weighted layers: multipliers per output ...
    out_lanes = 2               # ... and outputs side by side (1 when not given); the
                                # parallelism pass keeps them and plans the rest around

A layer that does not choose a format of its own (ReLU, max pooling: they keep their input's)
cannot take one; the error names the layer that feeds it.
"""
from __future__ import annotations

import pathlib
import tomllib
from dataclasses import dataclass, field

from . import ir
from .errors import CompileError

__all__ = ["Config", "LayerConfig", "load_config", "BITS_RANGE"]

BITS_RANGE = range(2, 25)
FORMAT_KEYS = ("bits", "frac")
WEIGHT_KEYS = ("weight_bits", "weight_frac")
LANE_KEYS = ("lanes", "out_lanes")
LAYER_KEYS = FORMAT_KEYS + WEIGHT_KEYS + LANE_KEYS


@dataclass(frozen=True)
class LayerConfig:
    bits: int | None = None
    frac: int | None = None
    weight_bits: int | None = None
    weight_frac: int | None = None
    lanes: int | None = None
    out_lanes: int | None = None

    def given(self, keys) -> dict:
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}


@dataclass(frozen=True)
class Config:
    bits: int | None = None
    layers: dict[str, LayerConfig] = field(default_factory=dict)
    source: str = "config"

    def check(self, graph: ir.Graph) -> "Config":
        """Every named layer exists in ``graph`` and takes the settings it is given."""
        for name, layer in self.layers.items():
            if name not in graph:
                names = ", ".join(repr(n.name) for n in graph.nodes[:40])
                raise CompileError(f"{self.source}: [layers.{_key(name)}]: no node of that "
                                   f"name; the nodes are: {names}")
            node = graph[name]
            kind = type(node).__name__
            where = f"{self.source}: [layers.{_key(name)}] ({kind})"
            if layer.given(FORMAT_KEYS) and not isinstance(node, ir.CALIBRATED + ir.TABLED):
                feeder = repr(node.inputs[0]) if node.inputs else "its input"
                raise CompileError(f"{where}: a {kind} keeps the format it is given (exact or "
                                   f"its input's); set bits/frac on {feeder} instead")
            if layer.frac is not None and isinstance(node, ir.TABLED):
                raise CompileError(f"{where}: frac: a {kind} table's output always has "
                                   f"bits - 1 fractional bits; give bits only")
            for keys, what in ((WEIGHT_KEYS, "weights"), (LANE_KEYS, "parallelism")):
                if layer.given(keys) and not isinstance(node, ir.WEIGHTED):
                    raise CompileError(f"{where}: {'/'.join(layer.given(keys))}: only "
                                       f"Conv2d and Linear layers have {what}")
        return self

    def formats(self, name: str) -> LayerConfig:
        return self.layers.get(name, LayerConfig())

    def lanes(self) -> dict[str, tuple[int | None, int | None]]:
        """Pinned parallelism by node name: (lanes, out_lanes), None where not pinned."""
        return {name: (c.lanes, c.out_lanes) for name, c in self.layers.items()
                if c.lanes is not None or c.out_lanes is not None}


def _key(name: str) -> str:
    return name if name.replace("_", "").isalnum() else f'"{name}"'


def _int(where: str, key: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise CompileError(f"{where}: {key} = {value!r}: expected an integer from {lo} to {hi}")
    return value


def load_config(source) -> Config:
    """A Config from a TOML file path, a dict of the same shape, or a Config as is."""
    if source is None:
        return Config()
    if isinstance(source, Config):
        return source
    name = "config"
    if isinstance(source, (str, pathlib.PurePath)):
        name = str(source)
        try:
            source = tomllib.loads(pathlib.Path(source).read_text())
        except OSError as e:
            raise CompileError(f"{name}: cannot read the config file ({e.strerror})") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise CompileError(f"{name}: not valid TOML ({e})") from None
    if not isinstance(source, dict):
        raise CompileError(f"{name}: expected a table of settings, not {type(source).__name__}")
    unknown = set(source) - {"bits", "layers"}
    if unknown:
        raise CompileError(f"{name}: unknown setting {sorted(unknown)[0]!r}; the top level "
                           f"takes bits and [layers.NAME] tables")
    bits = source.get("bits")
    if bits is not None:
        bits = _int(name, "bits", bits, BITS_RANGE.start, BITS_RANGE.stop - 1)
    layers = {}
    tables = source.get("layers", {})
    if not isinstance(tables, dict):
        raise CompileError(f"{name}: layers must be a table of [layers.NAME] tables")
    for layer, settings in tables.items():
        where = f"{name}: [layers.{_key(layer)}]"
        if not isinstance(settings, dict):
            raise CompileError(f"{where}: expected a table of settings")
        unknown = set(settings) - set(LAYER_KEYS)
        if unknown:
            raise CompileError(f"{where}: unknown setting {sorted(unknown)[0]!r}; a layer "
                               f"takes {', '.join(LAYER_KEYS)}")
        values = {}
        for key, value in settings.items():
            if key.endswith("bits"):
                values[key] = _int(where, key, value, BITS_RANGE.start, BITS_RANGE.stop - 1)
            elif key.endswith("frac"):
                values[key] = _int(where, key, value, -32, 48)
            else:
                values[key] = _int(where, key, value, 1, 1 << 20)
        layers[layer] = LayerConfig(**values)
    return Config(bits, layers, name)
