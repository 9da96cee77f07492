"""House rules checked on the source itself: no import cycles, no oversized modules, no issue-number comments,
fixtures only in conftest.py."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agent", "tools", "trainer", "ui")
CHECKED_FOLDERS = (*PACKAGES, "tests", "benchmarks")
MAX_LINES = 400
# "issue" or "issues" and a number, with or without "#": a pointer into the tracker, which says nothing once the
# issue is closed (a comment should say why instead).
ISSUE_POINTER = re.compile(r"\bissues?\s*#?\d+", re.IGNORECASE)


def python_files(folders: tuple[str, ...]) -> list[Path]:
    found = (path for folder in folders for path in (ROOT / folder).rglob("*.py"))
    return sorted(path for path in found if "__pycache__" not in path.parts)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {module_name(path): path for path in python_files(PACKAGES)}


def is_type_checking_block(node: ast.AST) -> bool:
    """`if TYPE_CHECKING:` imports never run, so they cannot take part in an import cycle."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement that can run: at module level, in functions, classes and branches alike."""
    found: list[ast.Import | ast.ImportFrom] = []
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if is_type_checking_block(node):
            assert isinstance(node, ast.If)
            pending.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        pending.extend(ast.iter_child_nodes(node))
    return found


def owning_module(name: str, modules: dict[str, Path]) -> str | None:
    """The project module `name` names, or the closest project package above it; None outside the project."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imported_modules(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules that importing `module` makes Python import (a `from x import y` counts x.y if y is a
    module, else x)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in runtime_imports(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        for name in names:
            owner = owning_module(name, modules)
            if owner is not None and owner != module:
                targets.add(owner)
    return targets


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {module: imported_modules(module, path, modules) for module, path in modules.items()}


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: the groups of modules that import each other, directly or through others."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, list[str]]] = [(start, sorted(graph[start]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            if successors:
                nxt = successors.pop(0)
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(graph.get(nxt, ()))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                groups.append(sorted(group))
    return groups


def shortest_cycle_through(start: str, graph: dict[str, set[str]], allowed: set[str]) -> list[str]:
    """The shortest import chain from `start` back to itself inside one strongly connected group."""
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(graph[node] & allowed):
            if nxt == start:
                chain = [node]
                while chain[-1] != start:
                    chain.append(previous[chain[-1]])
                return [*reversed(chain), start]
            if nxt not in previous:
                previous[nxt] = node
                queue.append(nxt)
    raise AssertionError(f"{start} is in a cycle but no path leads back to it")


def import_cycles(graph: dict[str, set[str]]) -> list[str]:
    """One shortest cycle through each module of every cyclic group, each written "a -> b -> a", without repeats."""
    cycles: dict[frozenset[tuple[str, str]], str] = {}
    for group in strongly_connected(graph):
        if len(group) < 2:
            continue
        for module in group:
            cycle = shortest_cycle_through(module, graph, set(group))
            edges = frozenset(zip(cycle, cycle[1:], strict=False))
            cycles.setdefault(edges, " -> ".join(cycle))
    return sorted(cycles.values())


def test_the_cycle_finder_names_each_cycle_and_ignores_chains() -> None:
    graph = {
        "a": {"b"},
        "b": {"c", "d"},
        "c": {"a"},
        "d": set(),
        "e": {"f"},
        "f": {"e"},
    }
    assert import_cycles(graph) == ["a -> b -> c -> a", "e -> f -> e"]
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_function_level_and_submodule_imports_are_edges(tmp_path: Path) -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "from trainer.plan import launch\n"
        "from trainer.core.errors import UserError\n"
        "if TYPE_CHECKING:\n"
        "    from ui import render\n"
        "def later():\n"
        "    import trainer.store.registry\n"
        "    from . import worker\n"
    )
    path = tmp_path / "local.py"
    path.write_text(source, encoding="utf-8")
    modules = {
        name: tmp_path
        for name in (
            "trainer.plan",
            "trainer.plan.launch",
            "trainer.core.errors",
            "trainer.store.registry",
            "trainer.backends.local",
            "trainer.backends.worker",
            "ui.render",
        )
    }
    assert imported_modules("trainer.backends.local", path, modules) == {
        "trainer.plan.launch",
        "trainer.core.errors",
        "trainer.store.registry",
        "trainer.backends.worker",
    }


def test_no_import_cycle_between_project_modules() -> None:
    cycles = import_cycles(import_graph())
    assert not cycles, "import cycles (counting imports inside functions):\n" + "\n".join(cycles)


def test_no_python_file_is_over_400_lines() -> None:
    oversized = [
        f"{path.relative_to(ROOT)}: {count} lines"
        for path in python_files(CHECKED_FOLDERS)
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    ]
    assert not oversized, f"modules over {MAX_LINES} lines:\n" + "\n".join(oversized)


def comments_and_docstrings(path: Path) -> list[tuple[int, str]]:
    """Every comment and docstring of a file, with its line number."""
    source = path.read_text(encoding="utf-8")
    found = [
        (token.start[0], token.string)
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT
    ]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    found.append((body[0].lineno, body[0].value.value))
    return found


def test_no_comment_points_at_an_issue_number() -> None:
    pointers = [
        f"{path.relative_to(ROOT)}:{line}: {ISSUE_POINTER.search(text).group(0)}"  # type: ignore[union-attr]
        for path in python_files(CHECKED_FOLDERS)
        if ISSUE_POINTER.search(path.read_text(encoding="utf-8"))  # tokenize only the files that might have one
        for line, text in comments_and_docstrings(path)
        if ISSUE_POINTER.search(text)
    ]
    assert not pointers, "comments should say why, not point at the tracker:\n" + "\n".join(pointers)


def test_the_issue_pointer_pattern() -> None:
    word = "issue"
    assert ISSUE_POINTER.search(f"# the OpenAI backend ({word} 5)")
    assert ISSUE_POINTER.search(f"# see {word.title()}s 3 and 4")
    assert ISSUE_POINTER.search(f"# {word} #10")
    assert not ISSUE_POINTER.search("# a data issue: 5 rows are empty")


def fixture_definitions(path: Path) -> list[str]:
    """Names of the functions in a file decorated with `pytest.fixture` (bare or called)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for decorator in node.decorator_list:
                target = decorator.func if isinstance(decorator, ast.Call) else decorator
                if isinstance(target, ast.Attribute) and target.attr == "fixture":
                    found.append(node.name)
    return found


def test_fixtures_are_defined_once_in_conftest_and_never_imported() -> None:
    # A fixture defined in a test module silently shadows the shared one of the same name, for that module only.
    tests = python_files(("tests",))
    elsewhere = [
        f"{path.name}: {name}" for path in tests if path.name != "conftest.py" for name in fixture_definitions(path)
    ]
    assert not elsewhere, "fixtures outside conftest.py:\n" + "\n".join(elsewhere)
    names = fixture_definitions(ROOT / "tests" / "conftest.py")
    assert len(names) == len(set(names)), f"fixtures defined twice: {sorted({n for n in names if names.count(n) > 1})}"
    importers = [
        path.name
        for path in tests
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if (isinstance(node, ast.ImportFrom) and node.module == "conftest")
        or (isinstance(node, ast.Import) and any(alias.name == "conftest" for alias in node.names))
    ]
    assert not importers, f"tests import conftest (import a helper module instead): {importers}"
