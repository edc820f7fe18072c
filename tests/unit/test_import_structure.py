"""The package's layering, read from the source with ``ast`` (nothing is imported): a family's modules other than its
``tab.py`` never import ``genmodels.hub``, and no two modules of one family folder import each other.

Every import counts — absolute or relative, at module level or inside a function. The allow-list below is empty; an
entry there would be a cycle still to fix, deleted with the fix.
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "genmodels"
FAMILIES = PACKAGE / "families"

# Cycles still to fix (each entry temporary: delete it with the fix). None today.
TEMPORARY_CYCLES_ALLOWED: set[tuple[str, str]] = set()


def module_name(path: Path, root: Path = PACKAGE.parent) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path = PACKAGE.parent) -> set[str]:
    """Every module ``path`` (under ``root``) imports, as absolute dotted names; ``from X import y`` gives both X and
    X.y (y may be a sub-module)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def hub_importers(families: Path = FAMILIES, root: Path = PACKAGE.parent) -> set[str]:
    """The modules under ``families``, other than tab.py files, that import genmodels.hub (paths from ``root``)."""
    return {p.relative_to(root).as_posix() for p in sorted(families.rglob("*.py")) if p.name != "tab.py"
            and any(m == "genmodels.hub" or m.startswith("genmodels.hub.") for m in imported_modules(p, root))}


def two_cycles(families: Path = FAMILIES, root: Path = PACKAGE.parent) -> set[tuple[str, str]]:
    """Pairs of modules of one family folder that import each other (paths from ``root``, sorted in the pair)."""
    cycles = set()
    for folder in sorted(d for d in families.iterdir() if d.is_dir()):
        mods = {module_name(p, root): p for p in folder.glob("*.py")}
        edges = {name: imported_modules(p, root) & set(mods) - {name} for name, p in mods.items()}
        for a, targets in edges.items():
            for b in targets:
                if a < b and a in edges[b]:
                    cycles.add((mods[a].relative_to(root).as_posix(), mods[b].relative_to(root).as_posix()))
    return cycles


def test_the_import_reader_sees_every_form(tmp_path):
    fam = tmp_path / "genmodels" / "families" / "x"
    fam.mkdir(parents=True)
    (fam / "a.py").write_text("import genmodels.hub.widgets\nfrom ... import hub\n"
                              "def f():\n    from ...hub.validate import parse_seed\n    from . import b\n")
    (fam / "b.py").write_text("import os\nif os:\n    import genmodels.families.x.a\n")
    (fam / "tab.py").write_text("from ...hub.widgets import seed_row\n")
    got = imported_modules(fam / "a.py", root=tmp_path)
    assert {"genmodels.hub.widgets", "genmodels.hub", "genmodels.hub.validate", "genmodels.families.x.b"} <= got
    families = tmp_path / "genmodels" / "families"
    assert hub_importers(families, tmp_path) == {"genmodels/families/x/a.py"}
    assert two_cycles(families, tmp_path) == {("genmodels/families/x/a.py", "genmodels/families/x/b.py")}


def test_only_tabs_import_the_hub():
    found = hub_importers()
    assert not found, (f"family modules other than tab.py import genmodels.hub: {sorted(found)}; import "
                       "genmodels.validate / genmodels.limits instead")


def test_no_two_modules_of_a_family_import_each_other():
    found = two_cycles()
    assert found <= TEMPORARY_CYCLES_ALLOWED, (
        f"modules that import each other: {sorted(found - TEMPORARY_CYCLES_ALLOWED)}; move what both need into a "
        "module both import (recipes, label and encode / decode helpers)")
