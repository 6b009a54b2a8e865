"""The package's imports run one way: every import between the package's own modules
stands at the top of its module (none hidden in a function or class body), points to
the module's own floor or a floor above it in the README's table ("What is inside",
one floor a row, read from README.md itself), and the module graph has no cycle.

The graph is read with ``ast`` from the source, not by importing: an edge runs from
a module to every module it imports and to the packages those live in (importing
``lstm_numpy.analysis.kernels`` runs ``lstm_numpy/analysis/__init__.py`` first),
except its own parent packages, which are imported before it runs.
"""
import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lstm_numpy"
# the secondary entry points that keep a small parser of their own; every other module below
# cli.py takes its options as values or records, never from argparse
OWN_PARSERS = {"lstm_numpy.cli", "lstm_numpy.report.claims", "lstm_numpy.report.explorer"}
# the one function whose imports of the package wait until it is called: the command line
# builds its parser and answers --help or a refused option before the pipeline (NumPy's
# kernels, Numba) is imported; everything the parser needs is in lstm_numpy/defaults.py
DEFERRED = {("lstm_numpy.cli", "pipeline")}


def module_of(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_of(path): path for path in PACKAGE.rglob("*.py")}


def is_package(module):
    return MODULES[module].name == "__init__.py"


def resolve(module, node):
    """The package modules an import statement of ``module`` names."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.split(".")[0] == "lstm_numpy"]
    if node.level:
        base = module.split(".") if is_package(module) else module.split(".")[:-1]
        base = base[:len(base) - node.level + 1]
        base = ".".join(base + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    if base.split(".")[0] != "lstm_numpy":
        return []
    targets = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES]
    return targets or [base]


def imports(module):
    """[(imported module, line, nested)] of one module; nested: inside a function or class body
    (the name of the outermost one), or None."""
    found = []

    def visit(node, nested):
        for child in ast.iter_child_nodes(node):
            body = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))
            inner = nested or (getattr(child, "name", "<lambda>") if body else None)
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.extend((target, child.lineno, nested) for target in resolve(module, child))
            visit(child, inner)
    visit(ast.parse(MODULES[module].read_text()), None)
    return found


def graph():
    edges = {}
    for module in MODULES:
        targets = set()
        for target, _, _ in imports(module):
            parts = target.split(".")
            targets.update(".".join(parts[:i]) for i in range(2, len(parts) + 1))   # the packages too
        # a module's own parent packages are already imported when it runs: no edge to them
        ancestors = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
        edges[module] = {t for t in targets if t in MODULES and t != module and t not in ancestors}
    return edges


def find_cycle(edges):
    """One cycle as a list of modules, or None (iterative depth-first search)."""
    colour = {m: 0 for m in edges}                      # 0 new, 1 on the path, 2 done
    for start in sorted(edges):
        if colour[start]:
            continue
        path, stack = [], [(start, iter(sorted(edges[start])))]
        colour[start] = 1
        path.append(start)
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                colour[node] = 2
                stack.pop()
                path.pop()
            elif colour[child] == 1:
                return path[path.index(child):] + [child]
            elif colour[child] == 0:
                colour[child] = 1
                path.append(child)
                stack.append((child, iter(sorted(edges[child]))))
    return None


def readme_floors(text=None):
    """[(floor name, [paths])] of the README table "What is inside", in its order."""
    text = (ROOT / "README.md").read_text() if text is None else text
    section = text.split("## What is inside", 1)[1].split("\n### ", 1)[0]
    floors = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[1].startswith("`lstm_numpy"):
            floors.append((cells[0], re.findall(r"`(lstm_numpy/[^`]*)`", cells[1])))
    return floors


def floor_of(module, floors):
    """The index of the README floor that lists ``module`` (a file or its folder), or None."""
    path = MODULES[module].relative_to(ROOT).as_posix()
    for index, (_, paths) in enumerate(floors):
        if any(path == listed or (listed.endswith("/") and path.startswith(listed)) for listed in paths):
            return index
    return None


def upward_imports(edges, floors):
    """["a (floor) imports b (floor above)"] for every edge that points up the table."""
    found = []
    for module, targets in edges.items():
        here = floor_of(module, floors)
        for target in targets:
            there = floor_of(target, floors)
            if here is not None and there is not None and there > here:
                found.append(f"{module} ({floors[here][0]}) imports {target} ({floors[there][0]})")
    return sorted(found)


def test_every_module_has_a_floor_in_the_readme():
    floors = readme_floors()
    assert [name for name, _ in floors][:3] == ["foundations", "labels", "evaluation"]
    missing = [m for m in MODULES if m != "lstm_numpy" and floor_of(m, floors) is None]
    assert not missing, f"modules the README's table does not place: {missing}"


def test_imports_point_only_to_the_same_floor_or_above():
    upward = upward_imports(graph(), readme_floors())
    assert not upward, "imports from a floor below (move the shared piece up the table):\n" + "\n".join(upward)


def test_only_the_entry_points_parse_command_lines():
    parsers = sorted(m for m in MODULES if any(isinstance(node, (ast.Import, ast.ImportFrom)) and "argparse" in
                                               [a.name for a in node.names] + [getattr(node, "module", None)]
                                               for node in ast.walk(ast.parse(MODULES[m].read_text()))))
    assert set(parsers) <= OWN_PARSERS, f"argparse imported below the command line: {set(parsers) - OWN_PARSERS}"
    takes = [m for m in MODULES if "Namespace" in MODULES[m].read_text()]
    assert not takes, f"modules that handle an argparse Namespace: {takes}"


def test_no_import_of_the_package_inside_a_function_or_class():
    nested = [f"{MODULES[m].relative_to(ROOT)}:{line} imports {target}"
              for m in MODULES for target, line, inside in imports(m) if inside and (m, inside) not in DEFERRED]
    assert not nested, "imports hidden in function bodies (move the shared piece below both):\n" + "\n".join(nested)
    deferred = {(m, inside) for m in MODULES for _, _, inside in imports(m) if inside}
    assert deferred == DEFERRED, "the named exception lists a function that imports nothing"


def heavy_imports_after(code, watched):
    """The modules of ``watched`` (top-level names, or full names) that running ``code`` in a fresh
    Python imports."""
    probe = code + f"\nprint(sorted(m for m in sys.modules if m in {watched!r} or m.split('.')[0] in {watched!r}))\n"
    result = subprocess.run([sys.executable, "-c", "import sys\n" + probe], capture_output=True, text=True, cwd=ROOT,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_command_line_answers_help_without_the_pipeline():
    """--help, and the parser of every subcommand, import neither Numba nor Matplotlib nor the
    kernels (the deferred imports above are what make --help answer at once)."""
    code = ("import contextlib, io\n"
            "from lstm_numpy import cli\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
            "    cli.main(['--help'])\n"
            "for parser, _ in cli.subcommand_parsers('run.py').values():\n"
            "    parser.format_help()")
    watched = ("numba", "matplotlib", "torch", "scipy", "tqdm", "lstm_numpy.experiment", "lstm_numpy.pipeline",
               "lstm_numpy.model")
    assert heavy_imports_after(code, watched) == "[]"


def test_a_run_imports_matplotlib_and_numba_cuda_only_when_used():
    assert heavy_imports_after("import lstm_numpy.experiment", ("matplotlib", "numba.cuda", "torch")) == "[]"
    assert heavy_imports_after("import lstm_numpy.experiment", ("numba",)) != "[]", "the check can see an import"


def test_the_module_graph_has_no_cycle():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_checks_catch_what_they_look_for():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    tree = ast.parse("def f():\n    from .ablation import x\n")
    node = tree.body[0].body[0]
    assert resolve("lstm_numpy.analysis.sensitivity", node) == ["lstm_numpy.analysis.ablation"]
    edges = graph()
    assert "lstm_numpy.analysis" in edges["lstm_numpy.experiment"], "a submodule import runs its package"
    assert "lstm_numpy.labels" in edges["lstm_numpy.evaluation.metrics"]
    table = """## What is inside\n\n| floor | module | what |\n|---|---|---|\n| low | `lstm_numpy/labels.py` | x |
| high | `lstm_numpy/analysis/` | y |\n\n### next\n"""
    floors = readme_floors(table)
    assert floors == [("low", ["lstm_numpy/labels.py"]), ("high", ["lstm_numpy/analysis/"])]
    assert floor_of("lstm_numpy.analysis.engine", floors) == 1
    assert upward_imports({"lstm_numpy.labels": {"lstm_numpy.analysis.engine"}}, floors) == [
        "lstm_numpy.labels (low) imports lstm_numpy.analysis.engine (high)"]
    assert upward_imports({"lstm_numpy.analysis.engine": {"lstm_numpy.labels"}}, floors) == []
