"""The house's import rules (README.md, "Architecture"), checked on the import graph:

- below the composition root (console/cli.py and console/commands/), console/
  never imports screens/;
- actions/ never imports screens/ or textual;
- console/gc_policy.py is the only module that imports `gc`: the process's
  garbage-collector policy has one owner;
- no two modules import each other, directly or round a longer loop, lazy
  imports included (a function-level import hides a cycle from Python, not
  from the reader: console/sim/hosts.py and host_software.py had one);
- no test module (tests/test_*.py) imports another: shared fixtures live in
  tests/conftest.py, shared helpers in modules that are not test modules
  (tests/testhosts.py, tests/waiting.py, ...).

Every module of console/, actions/, screens/ and themes/ is parsed with `ast`;
every import counts wherever it is (module level, inside a function, under
`if TYPE_CHECKING:`), and so do `importlib.import_module("...")` /
`__import__("...")` calls and "module:function" strings of a registry
(actions/plan.py WIZARDS) that name a forbidden module. The last tests run the
checker on a small tree with one violation of each kind, so a checker that
stopped finding them would fail.
"""
from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("console", "actions", "screens", "themes")
COMPOSITION_ROOT = ("console/cli.py", "console/commands/")
GC_OWNER = "console/gc_policy.py"
# a string that names a module the way a registry does: "screens.app" or "screens.app:DashboardApp"
_MODULE_STRING = re.compile(r"(?:screens|textual)(?:\.\w+)+(?::\w+)?|(?:screens|textual):\w+")


def _module_name(rel: str) -> str:
    parts = rel[:-3].split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(rel: str, node: ast.ImportFrom) -> str:
    """The absolute module an ImportFrom names (relative ones resolved)."""
    if not node.level:
        return node.module or ""
    package = _module_name(rel).split(".")
    if not rel.endswith("__init__.py"):
        package = package[:-1]
    base = package[:len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(rel: str, source: str) -> list[tuple[int, str]]:
    """(line, module) for everything the module imports, wherever it does."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, filename=rel)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(rel, node)
            found.append((node.lineno, base))
            # `from screens import app` imports screens.app as well as screens
            found += [(node.lineno, f"{base}.{a.name}") for a in node.names if a.name != "*"]
        elif isinstance(node, ast.Call) and node.args and _is_dynamic_import(node.func):
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.append((node.lineno, arg.value))
            elif isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
                found.append((node.lineno, str(arg.values[0].value).rstrip(".")))  # f"screens.{x}"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _MODULE_STRING.fullmatch(node.value):
            found.append((node.lineno, node.value.split(":")[0]))
    return found


def _is_dynamic_import(func: ast.expr) -> bool:
    return ((isinstance(func, ast.Attribute) and func.attr == "import_module")
            or (isinstance(func, ast.Name) and func.id in ("import_module", "__import__")))


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def violations(root: Path) -> list[str]:
    """`path:line: what is wrong` for every import that breaks a rule."""
    out: dict[str, None] = {}   # ordered, and `from screens import app` counts once
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            for line, module in imports_of(rel, path.read_text()):
                where = f"{rel}:{line}"
                if (rel.startswith("console/") and not rel.startswith(COMPOSITION_ROOT)
                        and _in(module, "screens")):
                    out[f"{where}: imports screens/; only console/cli.py and console/commands/ may"] = None
                if rel.startswith("actions/") and (_in(module, "screens") or _in(module, "textual")):
                    top = module.split('.')[0]
                    out[f"{where}: imports {top}; actions/ imports neither screens/ nor textual"] = None
                if module == "gc" and rel != GC_OWNER:
                    out[f"{where}: imports gc; the garbage-collector policy is {GC_OWNER}'s"] = None
    return list(out)


def imports_between_test_modules(root: Path) -> list[str]:
    """`path:line: ...` for every test module that imports another test module."""
    out: dict[str, None] = {}
    for path in sorted((root / "tests").glob("test_*.py")):
        rel = path.relative_to(root).as_posix()
        for line, module in imports_of(rel, path.read_text()):
            test_module = next((part for part in module.split(".") if part.startswith("test_")), None)
            if test_module:
                out[f"{rel}:{line}: imports the test module {test_module}; "
                    "fixtures go in tests/conftest.py, helpers in a module not named test_*"] = None
    return list(out)


def import_graph(root: Path) -> dict[str, set[str]]:
    """module -> the modules of PACKAGES it imports (a name imported from a
    module, `from console.sim import hosts`, counts as the module it names)."""
    files = {_module_name(p.relative_to(root).as_posix()): p
             for package in PACKAGES for p in (root / package).rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for module, path in files.items():
        for _, name in imports_of(path.relative_to(root).as_posix(), path.read_text()):
            parts = name.split(".")
            known = next((".".join(parts[:i]) for i in range(len(parts), 0, -1)
                          if ".".join(parts[:i]) in files), None)
            if known and known != module:
                graph[module].add(known)
    return graph


def import_cycles(root: Path) -> list[str]:
    """Each group of modules that import one another in a loop, as `a <-> b <-> c`
    (the strongly connected components of the import graph, Tarjan's algorithm)."""
    graph = import_graph(root)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                cycles.append(" <-> ".join(sorted(group)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(cycles)


def test_the_repository_keeps_the_import_rules():
    assert violations(REPO) == []


def test_no_modules_import_each_other():
    assert import_cycles(REPO) == []


def test_the_checker_finds_import_cycles_lazy_ones_too(tmp_path):
    root = _tree(tmp_path, {
        "console/__init__.py": "",
        "console/sim/__init__.py": "",
        "console/sim/hosts.py": "def install():\n    from console.sim import host_software\n",
        "console/sim/host_software.py": "def hosts():\n    from console.sim.hosts import SimulatedHost\n",
        "console/a.py": "from . import b\n",
        "console/b.py": "import console.c\n",
        "console/c.py": "from console.a import x\n",
        "console/d.py": "import console.a\n",          # imports into a loop: not part of it
    })
    assert import_cycles(root) == ["console.a <-> console.b <-> console.c",
                                   "console.sim.host_software <-> console.sim.hosts"]


def test_no_test_module_imports_another():
    assert imports_between_test_modules(REPO) == []


def test_the_checker_reads_every_package_of_the_repository():
    # a checker looking at the wrong directory would find nothing wrong, ever
    seen = {p.relative_to(REPO).parts[0] for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")}
    assert seen == set(PACKAGES)
    assert any(m == "screens.app" for _, m in imports_of("console/commands/open.py",
                                                         (REPO / "console/commands/open.py").read_text()))


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    for package in PACKAGES:
        (root / package).mkdir(exist_ok=True)
    return root


def test_the_checker_finds_each_kind_of_violation(tmp_path):
    root = _tree(tmp_path, {
        "console/__init__.py": "",
        "console/cli.py": "from screens.app import DashboardApp\n",             # allowed: the root
        "console/commands/open.py": "def run():\n    import screens.app\n",       # allowed: the root
        "console/kube/cache.py": "def view():\n    from screens import overview\n",   # lazy, in a function
        "console/hosts/__init__.py": "from typing import TYPE_CHECKING\n"
                                     "if TYPE_CHECKING:\n    import screens.widgets.table\n",
        "console/sim/demo_site.py": "import importlib\n"
                                    "def f(name):\n    return importlib.import_module(f'screens.{name}')\n",
        "actions/__init__.py": "",
        "actions/runner.py": "from textual.app import App\n",
        "actions/plan.py": "WIZARDS = {'x': 'screens.wizard_screen:build'}\n",
        "actions/host_tuning/step.py": "from ...screens import keymap\n",            # relative, two up
        "screens/app.py": "import gc\nimport textual\n",                           # textual fine, gc not
        "console/gc_policy.py": "import gc\n",                                     # the owner
    })
    found = violations(root)
    assert sorted(":".join(v.split(":")[:2]) for v in found) == [
        "actions/host_tuning/step.py:1",
        "actions/plan.py:1",
        "actions/runner.py:1",
        "console/hosts/__init__.py:3",
        "console/kube/cache.py:2",
        "console/sim/demo_site.py:3",
        "screens/app.py:1",
    ]
    assert "console/kube/cache.py:2: imports screens/; only console/cli.py and console/commands/ may" in found
    assert "actions/runner.py:1: imports textual; actions/ imports neither screens/ nor textual" in found


def test_the_checker_finds_a_test_module_imported_by_another(tmp_path):
    root = _tree(tmp_path, {
        "tests/test_a.py": "from tests.test_b import site  # noqa: F401\n",
        "tests/test_c.py": "def test_x():\n    from tests.waiting import wait_for\n    from .test_b import row\n",
        "tests/test_b.py": "import tests.testhosts\n",
    })
    assert [v.split(": ")[0] for v in imports_between_test_modules(root)] == ["tests/test_a.py:1", "tests/test_c.py:3"]


def test_relative_imports_are_resolved_to_the_module_they_name():
    node = ast.parse("from ..hosts import ssh").body[0]
    assert _absolute("console/kube/cache.py", node) == "console.hosts"
    node = ast.parse("from . import rows").body[0]
    assert _absolute("console/kube/__init__.py", node) == "console.kube"
    assert _absolute("console/kube/cache.py", node) == "console.kube"
