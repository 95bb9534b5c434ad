#!/usr/bin/env python3
"""Prints contrada's module dependency list and any import cycles (docs/architecture.md).

Usage: scripts/module_deps.py [--files]   (rooms by default; --files: one node per source file)

A dependency is any `crate::a::b` path (in `use` lines or inline) or `super::` path in a file
under src/; a room is the first path component below src/ (`kalman`, `cf`, ...). Test modules
(`#[cfg(test)] mod tests`) are included: they are part of the room's code.
"""
import os
import re
import sys
from collections import defaultdict

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")


def module_of(path):
    rel = os.path.relpath(path, SRC)[:-3]
    parts = rel.split(os.sep)
    if parts[-1] in ("mod", "lib"):
        parts = parts[:-1]
    return parts


def resolve(parts, modules):
    """The longest prefix of `parts` that is a module (a file)."""
    for n in range(len(parts), 0, -1):
        if tuple(parts[:n]) in modules:
            return tuple(parts[:n])
    return None


def main():
    files = "--files" in sys.argv
    modules = {}
    for root, _, names in os.walk(SRC):
        for n in names:
            if n.endswith(".rs"):
                p = os.path.join(root, n)
                modules[tuple(module_of(p))] = p
    edges = defaultdict(set)
    for mod, path in modules.items():
        text = open(path, encoding="utf-8").read()
        text = re.sub(r"//[^\n]*", "", text)
        # `use crate::{a::b, c}` groups: expand one level.
        refs = []
        for m in re.finditer(r"crate::\{([^}]*)\}", text):
            refs += [s.strip() for s in m.group(1).split(",")]
        refs += re.findall(r"crate::((?:\w+::)*\w+)", text)
        # `super::` is relative to the parent module (a mod.rs file is its directory's module).
        for m in re.finditer(r"((?:super::)+)((?:\w+::)*\w+)", text):
            up = m.group(1).count("super::")
            refs.append("::".join(list(mod[: len(mod) - up]) + m.group(2).split("::")))
        for r in refs:
            target = resolve([x for x in r.split("::") if x], modules)
            if target is None or target == mod or not target:
                continue
            a, b = (mod, target) if files else (mod[:1], target[:1])
            if a != b and a and b:
                edges["::".join(a)].add("::".join(b))
    for a in sorted(edges):
        print(f"{a} -> {', '.join(sorted(edges[a]))}")
    cycles = strongly_connected(edges)
    print()
    if cycles:
        for c in cycles:
            print("cycle:", " <-> ".join(sorted(c)))
    else:
        print("no cycles")


def strongly_connected(edges):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]
    nodes = set(edges) | {b for v in edges.values() for b in v}

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


if __name__ == "__main__":
    main()
