"""The package's layers point one way (docs/design.md, "Layers"), and it has no
assert statements.

Read from the source, every import of a module of the package counts: at module
level, under `if TYPE_CHECKING:` and inside functions (lazy imports). Bottom up:
dialects, ir, transforms, frontend/operators, pipeline, backends, api/cli; a
module imports only from its own layer and the ones below. The one exception is
xDSL's convention for canonicalization: an op's `get_canonicalization_patterns`
imports its patterns from `transforms/canonicalization_patterns/` when
`canonicalize` asks for them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# where each subpackage's sources are (pyproject.toml's package-dir)
SOURCES = {
    "taylor_mlir": REPO / "taylor_mlir",
    "taylor_mlir.dialects": REPO / "dialects",
    "taylor_mlir.transforms": REPO / "transforms",
}
LAYERS = (
    ("dialects", ("taylor_mlir.dialects",)),
    (
        "ir",
        (
            "taylor_mlir.ir",
            "taylor_mlir.errors",
            "taylor_mlir.context",
        ),
    ),
    ("transforms", ("taylor_mlir.transforms",)),
    ("frontend/operators", ("taylor_mlir.frontend", "taylor_mlir.operators")),
    ("pipeline", ("taylor_mlir.pipeline", "taylor_mlir.stats")),
    ("backends", ("taylor_mlir.backends",)),
    (
        "api/cli",
        (
            "taylor_mlir",  # the package itself (its __init__): the public API
            "taylor_mlir.api",
            "taylor_mlir.strategy",
            "taylor_mlir.compile_function",
            "taylor_mlir.rebuild",
            "taylor_mlir.benchmarking",
            "taylor_mlir.models",
            "taylor_mlir.user_function",
            "taylor_mlir.cli",
            "taylor_mlir.tools",
        ),
    ),
)
CANONICALIZATION_HOOK = "get_canonicalization_patterns"


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its name)."""
    modules: dict[str, Path] = {}
    for package, root in SOURCES.items():
        for path in sorted(root.rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[0] in ("dialects", "transforms") and package == "taylor_mlir":
                continue  # symlinks or copies of the mapped directories
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join([package, *parts])] = path
    return modules


MODULES = _modules()


def layer_of(module: str) -> int:
    """The index of the layer holding `module` (the longest matching prefix;
    `taylor_mlir` itself matches only the package)."""
    best = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            inside = prefix != "taylor_mlir" and module.startswith(prefix + ".")
            if module == prefix or inside:
                if best is None or len(prefix) > best[1]:
                    best = (index, len(prefix))
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS")
    return best[0]


def _target(name: str) -> str | None:
    """The package module `name` refers to: itself, or its package when `name`
    is an object of a module (`from taylor_mlir.x import f` names x.f)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports(module: str) -> list[tuple[str, bool]]:
    """(imported package module, whether in a canonicalization hook) for each
    import of a package module in `module`'s source."""
    tree = ast.parse(MODULES[module].read_text())
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, in_hook: bool) -> None:
        for child in ast.iter_child_nodes(node):
            hook = in_hook or (
                isinstance(child, ast.FunctionDef)
                and child.name == CANONICALIZATION_HOOK
            )
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and child.module and not child.level:
                names = [f"{child.module}.{alias.name}" for alias in child.names]
            for name in names:
                if name.startswith("taylor_mlir") and (target := _target(name)):
                    if target != module:
                        found.append((target, hook))
            visit(child, hook)

    visit(tree, False)
    return found


def test_every_module_is_in_a_layer():
    for module in MODULES:
        layer_of(module)


def test_dialects_import_nothing_else_of_the_package():
    for module in MODULES:
        if layer_of(module) != 0:
            continue
        for target, hook in imports(module):
            if hook:
                assert target.startswith(
                    "taylor_mlir.transforms.canonicalization_patterns."
                ), f"{module}: its canonicalization hook imports {target}"
                continue
            assert layer_of(target) == 0, f"{module} imports {target}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module: str):
    layer = layer_of(module)
    upward = sorted(
        {
            f"{target} ({LAYERS[layer_of(target)][0]})"
            for target, hook in imports(module)
            if not hook and layer_of(target) > layer
        }
    )
    assert not upward, (
        f"{module} ({LAYERS[layer][0]}) imports from layers above it: "
        + ", ".join(upward)
    )


def test_no_import_cycle():
    graph = {
        module: sorted({t for t, hook in imports(module) if not hook})
        for module in MODULES
    }
    state: dict[str, str] = {}  # "open" while on the path, then "done"
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = "open"
        path.append(module)
        for target in graph[module]:
            if state.get(target) == "open":
                cycle = path[path.index(target) :] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_the_checks_see_lazy_and_type_checking_imports():
    """The walk finds imports inside functions and under TYPE_CHECKING (here,
    the backends' lazy imports of their modules)."""
    found = {target for target, _ in imports("taylor_mlir.backends")}
    assert "taylor_mlir.backends.torch_backend" in found


def test_no_assert_outside_tests():
    """`python -O` skips asserts: a check of the package raises a real exception
    (taylor_mlir.errors, InternalError for broken invariants)."""
    found = [
        f"{module}:{node.lineno}"
        for module, path in MODULES.items()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assert)
    ]
    assert not found, f"assert statements: {', '.join(found)}"
