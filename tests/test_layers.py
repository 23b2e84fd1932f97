"""The import graph reads top-down: every module imports only its own layer or the layers below
it (the table below, which the README's reading order follows), and there is no import cycle.
Checked statically (every ``import`` statement, function-level ones included) and by importing
each module in a fresh interpreter."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# layer of each module or package (the most specific prefix wins); lower layers never import higher
LAYERS = {
    "gatepose.errors": 0, "gatepose.files": 0, "gatepose.backend": 0, "gatepose.progress": 0,
    "gatepose": 0,                               # the package's __init__ (version only)
    "gatepose.ops": 1, "gatepose.data": 1, "gatepose.metrics": 1,
    "gatepose.nn": 2, "gatepose.tables": 2, "gatepose.viz": 2,
    "gatepose.losses": 3, "gatepose.options": 3, "gatepose.losses3d": 3, "gatepose.seeds": 1,
    "gatepose.fast": 4, "gatepose.optim": 4,     # speed machinery: over the plain code it shadows
    "gatepose.runs": 5,
    "gatepose.train": 6, "gatepose.evaluate": 6, "gatepose.lift": 6,
    "gatepose.ablation": 7, "gatepose.bench": 7,
    "gatepose.gradcheck": 8,                     # the checks import the code they check, never the reverse
    "cli": 9,
}
# The speed machinery's modules, in the order they may import one another.
FAST_ORDER = ["gatepose.fast.parallel", "gatepose.fast.fused", "gatepose.fast.critic_step"]


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


def test_fast_modules_import_in_order_and_plain_code_never_imports_fast():
    for a, deps in GRAPH.items():
        fast = [b for b in deps if b.startswith("gatepose.fast.")]
        if a in FAST_ORDER:
            assert all(FAST_ORDER.index(b) < FAST_ORDER.index(a) for b in fast), (a, fast)
        elif _layer(a) < LAYERS["gatepose.fast"]:
            assert not fast, (a, fast)


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
