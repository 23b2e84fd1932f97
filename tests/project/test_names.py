"""Every shared fact is stated once (gatepose/names.py): the presets, the attention variants, the
generators and the SPEC sizes; the package and the CLI read them from there, and building the CLI
loads no model code (``gatepose --help`` stays fast)."""
import subprocess
import sys
from pathlib import Path

from gatepose import names
from gatepose.nn.camera import CameraConfig
from gatepose.nn.critic import CriticConfig
from gatepose.nn.posegate import PoseGateConfig
from gatepose.nn.repnet import RepNetConfig
from gatepose.options import TrainOptions, model_configs


def _choices(command, name):
    return tuple(next(p for p in command.params if p.name == name).type.choices)


def test_one_list_of_each_name():
    import gatepose.ablation as ablation
    import gatepose.nn.generator as generator
    import gatepose.ops.attention as attention
    import gatepose.options as options
    from cli.bench import bench
    from cli.experiments import ablate, demo
    from cli.train import PRESET_NAMES, train as train_cmd

    assert attention.VARIANTS is options.ATTENTION_VARIANTS is names.ATTENTION_VARIANTS
    assert generator.GENERATORS is options.GENERATORS is names.GENERATORS
    assert ablation.VARIANTS is names.ABLATION_VARIANTS
    assert options.PRESETS is names.PRESETS and PRESET_NAMES == tuple(names.PRESETS)
    assert _choices(train_cmd, "preset") == names.PRESET_NAMES
    assert _choices(train_cmd, "attention") == names.ATTENTION_VARIANTS
    assert _choices(train_cmd, "generator") == names.GENERATORS
    assert _choices(bench, "attention") == names.ATTENTION_VARIANTS
    assert _choices(bench, "generator") == names.GENERATORS
    # demo trains the weak model (and beside it the same options fully supervised): weak presets
    # only; ablate takes every preset, its --supervision defaulting to the preset's
    assert set(_choices(demo, "preset")) < set(names.PRESETS) and "small-full" not in _choices(demo, "preset")
    assert _choices(ablate, "preset") == names.PRESET_NAMES
    for command in (demo, ablate):
        presets = _choices(command, "preset")
        help_text = next(p for p in command.params if p.name == "preset").help
        assert all(names.describe_preset(p) in help_text for p in presets)
    assert set(names.PRESET_PURPOSE) == set(names.PRESETS)


def test_model_sizes_stated_once():
    """TrainOptions' defaults give the config classes' defaults, both from names.SPEC_SIZES."""
    gcfg, ccfg, dcfg = model_configs(TrainOptions(), "h36m17")
    assert gcfg == PoseGateConfig(n_joints=17)
    assert ccfg == CameraConfig(n_joints=17)
    assert (dcfg.pose_width, dcfg.kcs_width) == (CriticConfig().pose_width, CriticConfig().kcs_width)
    assert model_configs(TrainOptions(generator="repnet"), "h36m17")[0] == RepNetConfig(n_joints=17)
    opts = TrainOptions()
    assert {k: getattr(opts, k) for k in names.SPEC_SIZES} == names.SPEC_SIZES


def test_building_the_cli_loads_no_model_code():
    code = ("import sys; import cli.main; "
            "print(sorted(m for m in sys.modules if m.startswith('gatepose')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       cwd=Path(__file__).resolve().parents[2])
    loaded = set(eval(r.stdout))
    assert loaded <= {"gatepose", "gatepose.errors", "gatepose.backend", "gatepose.names", "gatepose.jsontypes",
                      "gatepose.options"}, loaded
