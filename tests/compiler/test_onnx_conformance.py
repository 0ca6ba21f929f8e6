"""ONNX conformance (issue 4): every selected backend test case shipped with onnx either
compiles and its bit-exact reference stays within the case's quantization bound of
ONNX's output, or is refused with a CompileError naming the node and the attribute; and
docs/onnx-conformance.md is exactly what scripts/onnx_conformance.py writes now.
A few small cases also run in Verilator, bit-exact with the reference, and mutated case
models only ever raise CompileError."""
import functools
import importlib.util
import pathlib
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hwconv import ir
from hwconv.compiler.frontends.onnx import load_onnx
from hwconv.errors import CompileError
from hwconv.sim.verilator import verilator_toolchain_available

ROOT = pathlib.Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("onnx_conformance",
                                               ROOT / "scripts" / "onnx_conformance.py")
oc = sys.modules.setdefault("onnx_conformance", importlib.util.module_from_spec(_spec))
if not hasattr(oc, "run_case"):
    _spec.loader.exec_module(oc)

CASES = oc.select_cases()


@functools.lru_cache(maxsize=None)
def result(case_id: str):
    return oc.run_case(next(c for c in CASES if c.id == case_id))


@pytest.mark.parametrize("case_id", [c.id for c in CASES])
def test_case_is_supported_within_bound_or_refused_by_name(case_id):
    r = result(case_id)
    assert not r.crashed, f"{case_id}: {r.message}\n{r.trace}"
    assert r.outcome in ("supported", "refused")
    if r.outcome == "refused":
        # The message names the node and its op; the error also names the attribute.
        assert r.node and r.attribute, f"{case_id}: {r.message} names no node or attribute"
        assert r.message.startswith(r.node)
    else:
        assert r.err_lsb <= r.bound_lsb + 1e-9


def test_selection_covers_every_family_with_cases():
    families = {c.family for c in CASES}
    assert families == set(oc.FAMILIES)
    assert len(CASES) > 200


def test_table_is_up_to_date():
    text = oc.render([result(c.id) for c in CASES])
    doc = oc.DOC.read_text() if oc.DOC.exists() else ""
    assert doc == text, ("docs/onnx-conformance.md is out of date; run "
                         ".venv/bin/python scripts/onnx_conformance.py")


@functools.lru_cache(maxsize=None)
def case_models() -> list[bytes]:
    """The cases' models with their other inputs bound (as the frontend sees them)."""
    blobs = [oc.load_case(c)[0].SerializeToString() for c in CASES]
    return [b for b in blobs if len(b) < 200_000]


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_case_models_only_raise_compile_error(tmp_path, data):
    """Bytes of the cases' models overwritten, inserted, deleted or cut: load_onnx returns
    a graph or raises CompileError, never anything else."""
    blob = bytearray(data.draw(st.sampled_from(case_models())))
    for _ in range(data.draw(st.integers(1, 4))):
        if not blob:
            break
        pos = data.draw(st.integers(0, len(blob) - 1))
        how = data.draw(st.sampled_from(["byte", "int", "insert", "delete", "cut"]))
        if how == "byte":
            blob[pos] = data.draw(st.integers(0, 255))
        elif how == "int":
            v = data.draw(st.sampled_from([0, 1, 2, 3, 7, 8, -1, 255, 2**31 - 1, 2**20]))
            blob[pos:pos + 4] = v.to_bytes(8, "little", signed=True)[:4]
        elif how == "insert":
            blob[pos:pos] = data.draw(st.binary(min_size=1, max_size=16))
        elif how == "delete":
            del blob[pos:pos + data.draw(st.integers(1, 16))]
        else:
            del blob[pos:]
    path = tmp_path / "mutated.onnx"
    path.write_bytes(bytes(blob))
    try:
        g = load_onnx(path)
    except CompileError:
        return
    assert isinstance(g, ir.Graph)


# The longest of the sample (13 s and 10 s on a clean clone) run with -m slow (CI runs them).
SLOW_SAMPLE = {"node/test_flatten_axis1", "node/test_basic_conv_with_padding"}
SAMPLE = [pytest.param(case_id, marks=pytest.mark.slow) if case_id in SLOW_SAMPLE else case_id
          for case_id in oc.VERILATOR_SAMPLE] + [
    pytest.param(case_id, marks=pytest.mark.xfail(strict=True, reason=why))
    for case_id, why in oc.KNOWN_HARDWARE_BUGS.items()]


@pytest.mark.verilator
@pytest.mark.skipif(not verilator_toolchain_available(), reason="Verilator is not installed")
@pytest.mark.parametrize("case_id", SAMPLE)
def test_sample_is_bit_exact_in_verilator(case_id):
    assert result(case_id).outcome == "supported"
    design, frames = oc.compile_case(next(c for c in CASES if c.id == case_id))
    sim = design.simulate(frames)
    assert sim.bit_exact, f"{case_id}: first difference at {sim.first_mismatch()}"
