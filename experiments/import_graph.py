"""Import graph of the project's own modules: edge counts between folders, cycles, forbidden arrows.

Every ``import`` / ``from ... import`` of a first-party module counts, at module level or inside a
function (a lazy import is still a dependency). Prints:

* modules and import edges in all;
* edges between top-level folders (``semcore``, ``channels``, ``knowledge_base``, ``semcom.<sub-package>``);
* import cycles between modules (strongly connected components with more than one module);
* the arrows the layout forbids: ``semcore`` -> any other package, ``channels``/``knowledge_base``
  -> ``semcom``, and the prompt codec (``semcom.semantic``) -> ``semcom.generative``.

Run: ``python experiments/import_graph.py [--json]``; exit code 1 when a forbidden arrow or a cycle exists.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("semcore", "semcom", "channels", "knowledge_base")
#: (importer prefix, imported prefix) pairs that must not occur.
FORBIDDEN = (("semcore", "semcom"), ("semcore", "channels"), ("semcore", "knowledge_base"),
             ("channels", "semcom"), ("knowledge_base", "semcom"), ("semcom.semantic", "semcom.generative"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


def resolve(name: str, known: dict[str, Path]) -> str | None:
    """The longest known module that ``name`` (a module or ``module.attribute``) names."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def edges(known: dict[str, Path]) -> set[tuple[str, str]]:
    found = set()
    for module, path in known.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = module.split(".") if is_package else module.split(".")[:-1]
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{alias.name}" for alias in node.names] or [base]
            for target in targets:
                hit = resolve(target, known)
                if hit and hit != module:
                    found.add((module, hit))
    return found


def group(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "semcom" and len(parts) > 1 else parts[0]


def cycles(nodes: list[str], graph: set[tuple[str, str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in graph:
        succ[a].append(b)
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for n in nodes:
        if n not in index:
            visit(n)
    return out


def report() -> dict:
    known = modules()
    graph = edges(known)
    between = Counter((group(a), group(b)) for a, b in graph if group(a) != group(b))
    forbidden = sorted(f"{a} -> {b}" for a, b in graph for src, dst in FORBIDDEN
                       if (a == src or a.startswith(src + ".")) and (b == dst or b.startswith(dst + ".")))
    return {"modules": len(known), "edges": len(graph),
            "between_folders": {f"{a} -> {b}": n for (a, b), n in sorted(between.items())},
            "cycles": cycles(sorted(known), graph), "forbidden": forbidden}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = report()
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"modules {result['modules']}, import edges {result['edges']}")
        print("edges between folders:")
        for pair, n in result["between_folders"].items():
            print(f"  {n:3d}  {pair}")
        print(f"cycles: {len(result['cycles'])}")
        for component in result["cycles"]:
            print(f"  {' <-> '.join(component)}")
        print(f"forbidden arrows: {len(result['forbidden'])}")
        for arrow in result["forbidden"]:
            print(f"  {arrow}")
    return 1 if result["cycles"] or result["forbidden"] else 0


if __name__ == "__main__":
    sys.exit(main())
