"""The engine's shared unit (fpga/rtl/vit_shared_units.v): the iterative divider and square root behind LayerNorm's
statistics and the softmax / fused-token reciprocals, simulated inside the engine in Verilator, and the cycle count
the sequencer and the quick mode give it (engine.ln_unit_cycles)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import vitsdk.fpga as F
from vitsdk.errors import UserError
from vitsdk.fpga import quant as Q
from vitsdk.fpga.engine import EngineConfig, ln_unit_cycles
from vitsdk.fpga.program import cycle_model
from vitsdk.fpga.rtl import simulate_project

from test_fpga import TINY, fmnist, nano  # noqa: F401  (fmnist is a fixture)


@pytest.fixture(scope="module")
def fused(tmp_path_factory, fmnist):  # noqa: F811
    """vit_nano with EViT's fused token (LayerNorm, softmax and the fused token's division all run)."""
    model = nano(keep_rate=0.7, fuse_token=True)
    out = tmp_path_factory.mktemp("shared") / "project"
    ex = F.export_fpga(model, out, block_shape="8x16", calibration=fmnist[0][:64], reference=fmnist[0][:2],
                       engine=TINY, synth=False)
    return ex, Q.quantize_input(ex.model, fmnist[0][2:5].numpy())


def _engine(ex) -> EngineConfig:
    return EngineConfig(**{k: ex.project["engine"][k] for k in EngineConfig.__dataclass_fields__})


@pytest.mark.parametrize("recip_latency", [4, 2])
def test_the_unit_finishes_in_the_cycles_the_sequencer_gives_it(fused, recip_latency):
    """With LN_LAT exactly ln_unit_cycles (23 cycles at RECIP_LAT 4: 14 divider steps per cycle; 17 at RECIP_LAT 2)
    the logits stay bit-exact and the simulated cycles equal the quick mode's; one cycle less (forced past
    EngineConfig's check) gives wrong logits, so the count is the unit's real one, not a safe margin."""
    ex, patches = fused
    tight = replace(_engine(ex), recip_latency=recip_latency, ln_latency=ln_unit_cycles(recip_latency))
    sim, program = simulate_project(ex.path, ex.project, patches, config=tight)
    assert np.array_equal(sim.logits, Q.forward_int(ex.model, patches))
    assert cycle_model(program)["cycles"] == sim.cycles[0]
    short = replace(tight)
    object.__setattr__(short, "ln_latency", tight.ln_latency - 1)  # what EngineConfig refuses, below
    wrong, _ = simulate_project(ex.path, ex.project, patches, config=short)
    assert not np.array_equal(wrong.logits, sim.logits)


def test_a_layernorm_latency_below_the_units_is_refused_with_the_minimum():
    with pytest.raises(UserError, match=r"ln_latency 22 is shorter .* \(23 cycles with recip_latency 4\)"):
        EngineConfig(ln_latency=22, recip_latency=4)
    with pytest.raises(UserError, match="recip_latency must be in 1..55"):
        EngineConfig(recip_latency=0)
    assert [ln_unit_cycles(r) for r in (1, 4, 55)] == [14, 23, 180]
