"""`gatepose data ...`: synth, info, and one-line errors with exit code 2."""
import json
import re
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from cli.main import cli
from gatepose.data.archive import load_archive
from helpers import assert_refused


@pytest.fixture(scope="module")
def synth_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("d") / "s.npz"
    r = CliRunner().invoke(cli, ["data", "synth", "--out", str(out), "--subjects", "4", "--frames", "4000",
                                 "--seed", "2"])
    assert r.exit_code == 0, r.output
    assert "wrote" in r.output and "poses" in r.output
    return out


def test_synth_then_info(synth_file):
    ds = load_archive(synth_file)
    assert len(ds) >= 4000 and set(ds.subject) == {"S1", "S2", "S3", "S4"}
    r = CliRunner().invoke(cli, ["data", "info", str(synth_file)])
    assert r.exit_code == 0, r.output
    for text in ("skeleton    h36m17", "3D poses    yes", "frames per action and subject", "walk", "pickup",
                 "bone lengths (mm)", "l_hip-l_knee", "max std in a sequence", "test"):
        assert text in r.output, text
    assert f"{len(ds):,}" in r.output


def test_info_json(synth_file):
    r = CliRunner().invoke(cli, ["data", "info", str(synth_file), "--json"])
    s = json.loads(r.output)
    assert s["skeleton"] == "h36m17" and s["poses_3d"] and s["split"]["test"]["subjects"] == ["S4"]
    assert sum(sum(v.values()) for v in s["frames_per_action_subject"].values()) == s["frames"]
    assert max(b["max_within_sequence_std"] for b in s["bone_lengths_mm"]) < 0.05


def test_same_seed_same_file(tmp_path):
    runner = CliRunner()
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    for out in (a, b):
        runner.invoke(cli, ["data", "synth", "--out", str(out), "--subjects", "2", "--frames", "500"])
    da, db = load_archive(a), load_archive(b)
    assert all(np.array_equal(v, db.arrays()[k]) for k, v in da.arrays().items())


def test_info_on_a_non_archive_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello\n")
    for path in (bad, tmp_path / "missing.npz"):
        r = CliRunner().invoke(cli, ["data", "info", str(path)])
        assert_refused(r)


def test_info_etc_hostname_from_the_shell():
    r = subprocess.run([sys.executable, "-m", "cli.main", "data", "info", "/etc/hostname"],
                       capture_output=True, text=True)
    assert_refused(r, re.compile(r"^error: /etc/hostname: "))


def test_synth_errors_are_one_line(tmp_path):
    runner = CliRunner()
    r = runner.invoke(cli, ["data", "synth", "--out", str(tmp_path / "x.npz"), "--actions", "walk,fly"])
    assert_refused(r, "unknown action fly")
    r = runner.invoke(cli, ["data", "synth", "--out", str(tmp_path / "no" / "x.npz"), "--frames", "10"])
    assert_refused(r, "does not exist")


@pytest.mark.parametrize("cmd", ["synth", "import-h36m", "import-humaneva", "info"])
def test_help_teaches(cmd):
    r = CliRunner().invoke(cli, ["data", cmd, "--help"])
    assert r.exit_code == 0 and "Example" in r.output and "gatepose data " + cmd in r.output


def test_group_help_lists_the_commands():
    r = CliRunner().invoke(cli, ["data", "--help"])
    for cmd in ("synth", "import-h36m", "import-humaneva", "info"):
        assert cmd in r.output
