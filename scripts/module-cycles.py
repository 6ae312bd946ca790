#!/usr/bin/env python3
"""No two modules of a crate import each other, directly or round a loop (issue 15).

Reads every `crate::…`, `super::…` and `self::…` path in a crate's sources (comments and
`#[cfg(test)] mod tests` blocks left out: tests may reach anywhere), maps each to the
module it names, and lifts each reference to the pair of siblings it crosses (a use of
`kafka::emitter` from `kafka::pipeline` is an edge pipeline → emitter; from `cli::run` it
is cli → kafka). Any strongly connected set of siblings is a cycle: printed with the
references that make it, and the exit status is 1.

    scripts/module-cycles.py SRC_DIR...
"""
import os
import re
import sys

PATH = re.compile(r"\b(crate|super|self)((?:::(?:[a-z_][a-z0-9_]*|\{[^}]*\}))+)")
NAME = re.compile(r"[a-z_][a-z0-9_]*")


def modules(root):
    """Module path (a tuple) → source without comments and test modules."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(d, f)
            parts = os.path.relpath(path, root)[:-3].split(os.sep)
            if parts[-1] in ("mod", "lib", "main"):
                parts = parts[:-1]
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
            cut = text.find("#[cfg(test)]\nmod tests")
            if cut >= 0:
                text = text[:cut]
            out[tuple(parts)] = re.sub(r"//[^\n]*", "", text)
    return out


def targets(module, text, known):
    """The modules `module`'s paths name (the longest known prefix of each)."""
    found = set()
    for m in PATH.finditer(text):
        head, rest = m.group(1), m.group(2)
        base = {"crate": (), "super": module[:-1], "self": module}[head]
        segments = re.findall(r"::(\{[^}]*\}|[a-z_][a-z0-9_]*)", rest)
        while segments and segments[0] == "super":
            base, segments = base[:-1], segments[1:]
        prefix = list(base)
        for seg in segments:
            if seg.startswith("{"):
                # `use super::{a, b::c}`: each name inside is a path of its own.
                for name in NAME.findall(seg):
                    if tuple(prefix + [name]) in known:
                        found.add(tuple(prefix + [name]))
                break
            prefix.append(seg)
        path = tuple(prefix)
        while path and path not in known:
            path = path[:-1]
        found.add(path)
    return found


def sibling_edges(mods):
    edges = {}
    known = set(mods)
    for module, text in mods.items():
        for target in targets(module, text, known):
            common = 0
            while (
                common < min(len(module), len(target))
                and module[common] == target[common]
            ):
                common += 1
            if common >= len(module) or common >= len(target):
                continue  # an ancestor or a descendant: not a sibling
            a, b = module[: common + 1], target[: common + 1]
            edges.setdefault(a, {}).setdefault(b, set()).add((module, target))
    return edges


def cycles(edges):
    """Tarjan's strongly connected components with more than one member."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
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
    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def name(path):
    return "::".join(path) or "crate"


def main(roots):
    status = 0
    for root in roots:
        mods = modules(root)
        edges = sibling_edges(mods)
        found = cycles(edges)
        for component in found:
            status = 1
            print(f"module-cycles: {root}: {', '.join(map(name, component))} import each other:")
            members = set(component)
            for a in component:
                for b, refs in sorted(edges.get(a, {}).items()):
                    if b in members:
                        uses = "; ".join(f"{name(m)} uses {name(t)}" for m, t in sorted(refs))
                        print(f"  {name(a)} -> {name(b)} ({uses})")
        print(f"module-cycles: {root}: {len(mods)} modules, {'cycles above' if found else 'no cycles'}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["src", "crates/engine/src"]))
