"""The import graph reads top-down: every module imports only its own layer or the layers below
it (the table below, which the README's reading order follows), and there is no import cycle.
Checked statically (every ``import`` statement, function-level ones included) and by importing
each module in a fresh interpreter. And the speed rule: no plain module imports ``gatepose.fast``;
speed is entered only at the marked doors (``# FAST DOOR n``), each naming its plain reference and
the test that proves the two equal."""
import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# layer of each module or package (the most specific prefix wins); lower layers never import higher
LAYERS = {
    "gatepose.errors": 0, "gatepose.files": 0, "gatepose.backend": 0, "gatepose.progress": 0,
    "gatepose.names": 0, "gatepose.jsontypes": 0,   # shared with the CLI (no imports)
    "gatepose": 0,                               # the package's __init__ (version only)
    "gatepose.ops": 1, "gatepose.data": 1, "gatepose.metrics": 1,
    "gatepose.nn": 2, "gatepose.tables": 2, "gatepose.viz": 2,
    "gatepose.losses": 3, "gatepose.options": 3, "gatepose.losses3d": 3, "gatepose.seeds": 1,
    "gatepose.optim": 3,
    "gatepose.fast": 4,                          # speed machinery: over the plain code it shadows
    "gatepose.speed": 5,                         # the one seam: the plain paths, and the fast ones
    "gatepose.runs": 6, "gatepose.posefiles": 6,
    "gatepose.train": 7, "gatepose.evaluate": 7,
    "gatepose.training": 8, "gatepose.ablation": 9, "gatepose.bench": 9,
    "gatepose.gradcheck": 10,                    # the checks import the code they check, never the reverse
    "cli": 11,
}
# The speed machinery's modules, in the order they may import one another.
FAST_ORDER = ["gatepose.fast.parallel", "gatepose.fast.adam", "gatepose.fast.fused", "gatepose.fast.critic_step",
              "gatepose.fast.one_pass"]
# The only modules that import gatepose.fast: the seam (gatepose/speed.py, which builds a run's
# speed paths), and the bench and the gradient checks, which measure and check the fast paths
# themselves. Every other module is plain, the trainer, optim and the commands (cli/) included.
ENTERS_FAST = ("gatepose.speed", "gatepose.bench", "gatepose.gradcheck")


def _modules():
    for path in sorted((ROOT / "gatepose").rglob("*.py")) + sorted((ROOT / "cli").glob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _layer(name: str) -> int:
    best = max((p for p in LAYERS if name == p or name.startswith(p + ".")), key=len)
    return LAYERS[best]


def _imports(name: str, path: Path) -> set:
    """Project modules imported anywhere in the file (absolute names)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            base = base[:len(base) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)   # `from . import x` names a module
    known = dict(_modules())
    return {m for m in out if m in known and m != name}


GRAPH = {name: _imports(name, path) for name, path in _modules()}


def test_no_upward_import():
    bad = [f"{a} (layer {_layer(a)}) imports {b} (layer {_layer(b)})"
           for a, deps in GRAPH.items() for b in deps
           if _layer(b) > _layer(a) and not (a == "gatepose" or b == "gatepose")]
    assert not bad, "\n".join(bad)


def _is_fast(name: str) -> bool:
    return name == "gatepose.fast" or name.startswith("gatepose.fast.")


def plain_imports_of_fast(graph: dict) -> list:
    """(importer, fast module) for every import of gatepose.fast by a module that is neither in
    gatepose.fast nor in ENTERS_FAST."""
    return sorted((a, b) for a, deps in graph.items() for b in deps
                  if _is_fast(b) and not _is_fast(a) and not any(a == p or a.startswith(p + ".") for p in ENTERS_FAST))


def test_fast_modules_import_in_order():
    assert sorted(n for n in GRAPH if n.startswith("gatepose.fast.")) == sorted(FAST_ORDER)
    for a in FAST_ORDER:
        fast = [b for b in GRAPH[a] if b.startswith("gatepose.fast.")]
        assert all(FAST_ORDER.index(b) < FAST_ORDER.index(a) for b in fast), (a, fast)


def test_no_cli_or_plain_module_imports_fast():
    plain = [n for n in GRAPH if not _is_fast(n) and not any(n == p or n.startswith(p + ".") for p in ENTERS_FAST)]
    assert {"gatepose.optim", "gatepose.runs", "gatepose.evaluate", "gatepose.posefiles", "gatepose.losses",
            "gatepose.ops.softmax", "gatepose.nn.critic", "gatepose.train", "gatepose.training", "cli",
            "cli.predict", "cli.evaluate", "cli.plot", "cli.experiments"} <= set(plain)
    assert not plain_imports_of_fast(GRAPH), plain_imports_of_fast(GRAPH)


def test_the_plain_rule_fails_on_an_import_of_fast(tmp_path):
    """The rule's check sees an import of gatepose.fast by a plain module, a function-level one too."""
    src = tmp_path / "optim.py"
    src.write_text("def step():\n    from .fast.parallel import map_balanced\n")
    graph = dict(GRAPH)
    graph["gatepose.optim"] = GRAPH["gatepose.optim"] | _imports("gatepose.optim", src)
    assert plain_imports_of_fast(graph) == [("gatepose.optim", "gatepose.fast.parallel")]


DOOR = re.compile(r"# FAST DOOR (\d+): (.+?); plain reference: (.+?); proved equal by (.+)")


def _doors() -> list:
    """(file, door number, what, plain reference, [test ids]) of every ``# FAST DOOR`` comment; the
    comment may go on over the following comment lines."""
    out = []
    for name, path in _modules():
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if not line.strip().startswith("# FAST DOOR"):
                continue
            text = line.strip()
            for more in lines[i + 1:]:
                if not more.strip().startswith("#") or "FAST DOOR" in more:
                    break
                text += " " + more.strip().lstrip("#").strip()
            m = DOOR.search(text)
            assert m, f"{path}:{i + 1}: a door comment must read '# FAST DOOR n: <what>; plain reference: " \
                      f"<function>; proved equal by <test>', got {text!r}"
            tests, last = [], None
            for file, test in re.findall(r"(tests/[\w/]+\.py)?::(\w+)", m.group(4)):
                last = file or last
                tests.append((last, test))
            out.append((path, int(m.group(1)), m.group(2), m.group(3), tests))
    return out


def test_every_fast_door_names_its_plain_reference_and_an_existing_test():
    doors = _doors()
    assert sorted({n for _, n, *_ in doors}) == [1, 2, 3, 4]
    for path, n, what, plain, tests in doors:
        assert tests, f"{path}: door {n} names no test"
        for file, test in tests:
            assert file and re.search(rf"^def {test}\(", (ROOT / file).read_text(), re.M), \
                f"{path}: door {n} ({what}) names {file}::{test}, which does not exist"
    # each door is a call through the run's speed paths (gatepose/speed.py) in the code below it
    for path, n, what, *_ in doors:
        text = path.read_text()
        after = text[text.index(f"# FAST DOOR {n}: {what}"):].split("\n")
        code = next(line for line in after if not line.strip().startswith("#"))
        assert "speed" in code, f"{path}: door {n} ({what}) is not a call through the speed paths: {code.strip()!r}"


def test_no_import_cycle():
    state = {}

    def visit(m, stack):
        state[m] = "open"
        for d in sorted(GRAPH.get(m, ())):
            if d == m or (m.startswith(d + ".") and d in GRAPH):   # a module's own package
                continue
            if state.get(d) == "open":
                pytest.fail("import cycle: " + " -> ".join(stack + [m, d]))
            if d not in state:
                visit(d, stack + [m])
        state[m] = "done"

    for m in sorted(GRAPH):
        if m not in state:
            visit(m, [])


@pytest.mark.parametrize("name", [n for n, _ in _modules() if n != "gatepose.viz"])
def test_each_module_imports_alone(name):
    r = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_the_training_iteration_file_is_only_the_iteration():
    """train.py holds the Trainer (the iteration) and nothing else: at most 250 lines, no signals,
    files or clocks (a run's lifecycle is training.py's)."""
    text = (ROOT / "gatepose" / "train.py").read_text()
    assert len(text.splitlines()) <= 250
    assert not {"gatepose.training", "gatepose.files", "gatepose.progress"} & GRAPH["gatepose.train"]
    assert not re.search(r"^\s*import (signal|time|json|threading)\b", text, re.M)
