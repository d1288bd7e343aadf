"""The house's shape, read from the source: small modules, imports one way, no cycles, rooms that say what they hold.

Imports are read with ``ast`` from every product module (migrations aside: Django writes them),
including the imports inside functions, since an import moved into a function still ties two
modules together.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("backorders", "suppliers", "packets", "config")
MAX_LINES = 500
# store_actions' verbs enqueue through the runner, and the runner releases holds through them
KNOWN_CYCLES = [{"packets.store_actions", "packets.store_actions.runner"}]


def product_modules() -> dict[str, tuple[Path, bool]]:
    modules = {}
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            is_package = parts[-1] == "__init__"
            modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


MODULES = product_modules()


def imports_of(name: str) -> set[str]:
    """The product modules ``name`` imports (the longest known module of each imported name)."""
    path, is_package = MODULES[name]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            parts = target.split(".")
            while parts and ".".join(parts) not in MODULES:
                parts.pop()
            if parts and ".".join(parts) != name:
                found.add(".".join(parts))
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def cycles() -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for start in GRAPH:
        if start in index:
            continue
        work = [(start, iter(sorted(GRAPH[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(GRAPH[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(component)
    return found


def test_no_module_is_over_500_lines():
    long = {name: n for name, (path, _) in MODULES.items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def test_no_import_cycles_but_the_known_one():
    assert sorted(map(sorted, cycles())) == sorted(map(sorted, KNOWN_CYCLES))


def test_the_csv_base_and_the_order_models_import_no_module_that_imports_them():
    assert not GRAPH["backorders.intake.csv_import"] & {
        "backorders.intake.csv_orders",
        "backorders.intake.csv_inventory",
        "backorders.intake.csv_tracking",
    }
    assert "backorders.models.orders" not in GRAPH["backorders.models.policy"]


@pytest.mark.parametrize(
    ("app", "never"),
    [("backorders", ("suppliers", "packets")), ("suppliers", ("packets",))],
)
def test_imports_flow_from_the_store_side_up_to_the_decision_side(app, never):
    against = {
        (name, target)
        for name, targets in GRAPH.items()
        if name.split(".")[0] == app
        for target in targets
        if target.split(".")[0] in never
    }
    assert against == set()


def test_verbs_never_import_views_and_the_product_never_imports_the_seeds():
    views = {"packets.views", "packets.urls"}
    against = set()
    for name, targets in GRAPH.items():
        for target in targets:
            if target.startswith("packets.views") and not name.startswith(tuple(views)):
                against.add((name, target))
            if target.startswith("packets.seeding") and not name.startswith(("packets.seeding", "packets.management")):
                against.add((name, target))
    assert against == set()


def test_packets_holds_few_modules_at_the_top_and_each_room_says_what_it_holds():
    top = sorted(p.stem for p in (ROOT / "packets").glob("*.py") if p.stem != "__init__")
    assert len(top) <= 15, top
    rooms = [p.parent for p in (ROOT / "packets").glob("*/__init__.py") if p.parent.name not in {"migrations"}]
    silent = [
        room.name
        for room in rooms
        if room.name not in {"management", "templatetags"}
        and not ast.get_docstring(ast.parse((room / "__init__.py").read_text()))
    ]
    assert silent == []
