"""The package's imports run one way: every import between the package's own modules
stands at the top of its module (none hidden in a function or class body), and the
module graph has no cycle.

The graph is read with ``ast`` from the source, not by importing: an edge runs from
a module to every module it imports and to the packages those live in (importing
``lstm_numpy.analysis.kernels`` runs ``lstm_numpy/analysis/__init__.py`` first),
except its own parent packages, which are imported before it runs.
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lstm_numpy"


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
    """[(imported module, line, nested)] of one module; nested: inside a function or class body."""
    found = []

    def visit(node, nested):
        for child in ast.iter_child_nodes(node):
            inner = nested or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.extend((target, child.lineno, nested) for target in resolve(module, child))
            visit(child, inner)
    visit(ast.parse(MODULES[module].read_text()), False)
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


def test_no_import_of_the_package_inside_a_function_or_class():
    nested = [f"{MODULES[m].relative_to(ROOT)}:{line} imports {target}"
              for m in MODULES for target, line, inside in imports(m) if inside]
    assert not nested, "imports hidden in function bodies (move the shared piece below both):\n" + "\n".join(nested)


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
    assert "lstm_numpy.analysis" in edges["lstm_numpy.backend"], "a submodule import runs its package"
    assert "lstm_numpy.labels" in edges["lstm_numpy.evaluation.metrics"]
