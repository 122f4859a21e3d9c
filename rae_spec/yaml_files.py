"""YAML configs read safely: plain data only, and bounded, whoever wrote the file.

`yaml.SafeLoader` never runs code, but a tiny file can still hang or exhaust memory: anchors and aliases
share one node many times (a "billion laughs" file of a few hundred bytes describes 10^9 values), an alias
can refer to its own parent (a cycle), deep nesting exhausts Python's stack, and `${a.b}` interpolations
(OmegaConf's, which the reference's YAMLs use) can refer to each other in a loop or double at each step.
Here the file's size is capped, the parsed tree is measured as if every alias were expanded (linear in
the file, with shared nodes counted once per use) and refused beyond MAX_VALUES or MAX_DEPTH, and
interpolations are resolved with cycle detection and the same bound. Numbers such as `1e-6` are floats, as
OmegaConf reads them (YAML 1.1 would read a string). Every problem is a ConfigError naming the file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .configs import ConfigError

MAX_BYTES = 1 << 20      # a config is kilobytes
MAX_VALUES = 100_000     # values after expanding aliases and interpolations (a reference YAML has ~100)
MAX_DEPTH = 64           # nesting levels (a reference YAML has 4)
_INTERPOLATION = re.compile(r"\$\{([\w.\-]+)\}")


def _loader():
    import yaml

    class Loader(yaml.SafeLoader):
        def flatten_mapping(self, node):  # merge keys (<<: *a) copy pairs at parse time: bound them too
            super().flatten_mapping(node)
            if len(node.value) > MAX_VALUES:
                raise ConfigError(f"a mapping merges more than {MAX_VALUES} keys (<<: aliases); it is not a config")

    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:\d[\d_]*\.\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|\d[\d_]*[eE][-+]?\d+"
                   r"|\.inf|\.nan)$", re.X | re.I),
        list("-+0123456789."))
    return Loader


def _check_flow_depth(text: str, where: str) -> None:
    """PyYAML's scanner is quadratic in the nesting of flow collections ([[[[...), so a 100 KB file of
    brackets takes seconds before the parser's own recursion fails: count brackets first (quotes ignored,
    so a string full of unbalanced brackets may be refused too; no config has one)."""
    import numpy as np

    raw = np.frombuffer(text.encode("utf-8", "replace"), dtype=np.uint8)
    step = np.isin(raw, (ord("["), ord("{"))).astype(np.int32) - np.isin(raw, (ord("]"), ord("}")))
    if raw.size and int(np.cumsum(step).max()) > MAX_DEPTH:
        raise ConfigError(f"{where} nests deeper than {MAX_DEPTH} levels")


def _measure(node: Any, where: str) -> None:
    """Refuse a tree that expands to more than MAX_VALUES values, nests deeper than MAX_DEPTH, or contains
    itself. Shared sub-trees (aliases) are measured once and counted at every use."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(n: Any, depth: int) -> int:
        if not isinstance(n, (dict, list)):
            return 1
        if depth > MAX_DEPTH:
            raise ConfigError(f"{where} nests deeper than {MAX_DEPTH} levels")
        key = id(n)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise ConfigError(f"{where} contains itself (a recursive alias)")
        active.add(key)
        children = list(n.keys()) + list(n.values()) if isinstance(n, dict) else n
        total = 1
        for c in children:
            total += size(c, depth + 1)
            if total > MAX_VALUES:
                raise ConfigError(f"{where} expands to more than {MAX_VALUES} values (aliases repeat nodes); "
                                  "it is not a config")
        active.discard(key)
        sizes[key] = total
        return total

    size(node, 0)


def _interpolate(root: dict, where: str) -> dict:
    """Resolve `${a.b}` strings (a whole value) against the root, with cycle detection. Resolved values are
    shared, so the result is measured again by the caller."""
    resolved: dict[str, Any] = {}
    resolving: list[str] = []

    def lookup(ref: str) -> Any:
        if ref in resolved:
            return resolved[ref]
        if ref in resolving:
            chain = " -> ".join([*resolving[resolving.index(ref):], ref])
            raise ConfigError(f"{where}: interpolation cycle ${{{chain}}}")
        if len(resolving) > MAX_DEPTH:
            raise ConfigError(f"{where}: interpolations nest deeper than {MAX_DEPTH}")
        resolving.append(ref)
        value: Any = root
        for part in ref.split("."):
            if not isinstance(value, dict) or part not in value:
                raise ConfigError(f"{where}: interpolation ${{{ref}}} refers to a missing key")
            value = value[part]
        out = walk(value)
        resolving.pop()
        resolved[ref] = out
        return out

    done: dict[int, Any] = {}

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            m = _INTERPOLATION.fullmatch(node.strip())
            return lookup(m.group(1)) if m else node
        if not isinstance(node, (dict, list)):
            return node
        if id(node) in done:
            return done[id(node)]
        if isinstance(node, dict):
            out: Any = done.setdefault(id(node), {})
            out.update({k: walk(v) for k, v in node.items()})
        else:
            out = done.setdefault(id(node), [])
            out.extend(walk(v) for v in node)
        return out

    return walk(root)


def load_yaml(path: str | Path, *, interpolate: bool = True, what: str = "config") -> dict[str, Any]:
    """The YAML mapping in `path` as plain dicts and lists, checked against the bounds above; `${a.b}`
    interpolations resolved when `interpolate`."""
    path = Path(path)
    where = f"{what} {path}"
    if not path.is_file():
        raise ConfigError(f"{where} does not exist" if not path.exists() else f"{where} is not a file")
    if path.stat().st_size > MAX_BYTES:
        raise ConfigError(f"{where} is {path.stat().st_size} bytes; a config is at most {MAX_BYTES}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{where} is not UTF-8 text") from e
    data = loads(text, where, interpolate=interpolate)
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must hold a YAML mapping at the top level")
    return data


def loads(text: str, where: str = "YAML", *, interpolate: bool = False) -> Any:
    """Parse YAML text with the bounds above (used for files and for `--set key=value` values)."""
    import yaml

    _check_flow_depth(text, where)
    try:
        data = yaml.load(text, Loader=_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        raise ConfigError(f"{where} is not valid YAML: {' '.join(str(e).split())[:300]}") from e
    except RecursionError as e:
        raise ConfigError(f"{where} nests too deeply") from e
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from e
    except (ValueError, TypeError, OverflowError) as e:  # a value the safe constructors reject (dates, ...)
        raise ConfigError(f"{where} holds a value YAML cannot read: {' '.join(str(e).split())[:200]}") from e
    _measure(data, where)
    if interpolate and isinstance(data, dict):
        try:
            data = _interpolate(data, where)
        except RecursionError as e:
            raise ConfigError(f"{where}: interpolations nest too deeply") from e
        _measure(data, where)
    return data
