"""The documentation site: every public name has an entry, every tutorial ran and plotted.

Checks a built site: ``$NORSE_DOCS_HTML`` (``make test`` builds it with ``make docs`` first
and points here), or else one built once for this session into a temporary folder with
``sphinx -W`` (about a minute or two: the tutorials run).
"""

from __future__ import annotations

import importlib
import inspect
import os
import posixpath
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("myst_nb")
pytest.importorskip("furo")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DOCS = ROOT / "docs"
sys.path.insert(0, str(HERE))
import api_names  # noqa: E402

TUTORIALS = sorted(p for p in (DOCS / "tutorials").glob("*.md") if p.name != "index.md")


@pytest.fixture(scope="session")
def html(tmp_path_factory) -> Path:
    """The built site's folder."""
    given = os.environ.get("NORSE_DOCS_HTML")
    if given:
        path = Path(given)
        if not path.is_absolute():
            path = ROOT / path
        assert (path / "objects.inv").exists(), f"NORSE_DOCS_HTML={given} holds no built site"
        return path
    out = tmp_path_factory.mktemp("docs") / "html"
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "-E"]
        + ["-d", str(out.parent / "doctrees"), str(DOCS), str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, f"sphinx -W failed:\n{result.stderr[-6000:]}"
    return out


@pytest.fixture(scope="session")
def inventory(html) -> dict[str, dict]:
    from sphinx.util.inventory import InventoryFile

    with open(html / "objects.inv", "rb") as stream:
        return InventoryFile.load(stream, "", posixpath.join)


def _public_names() -> list[tuple[str, str]]:
    """(module path, name) for every name of the API test table and of ``norse.torch.__all__``."""
    import norse.torch

    pairs = set()
    for path, names in api_names.expected_modules().items():
        if path == "norse":
            continue
        for name in names:
            if path == "norse.torch" and name in api_names.TOP_LEVEL_ATTRIBUTES:
                continue  # the subpackages and the HAS_* flags' own pages are checked below
            pairs.add((path, name))
    pairs |= {("norse.torch", name) for name in norse.torch.__all__}
    return sorted(pairs)


def _documented_as(path: str, name: str) -> list[str]:
    """The full names an entry of ``path.name`` may have: where a class or function is defined
    (documented there once), the module itself for a module, and for a constant any module
    path of the table that exports the same object under that name (documented at one)."""
    obj = getattr(importlib.import_module(path), name)
    names = [f"{path}.{name}"]
    if inspect.ismodule(obj):
        names.append(obj.__name__)
    elif inspect.isclass(obj) or inspect.isroutine(obj):
        module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
        if module and qualname:
            names.append(f"{module}.{qualname}")
    else:
        for other in api_names.expected_modules():
            if other != path and other != "norse":
                module = importlib.import_module(other)
                if getattr(module, name, None) is obj:
                    names.append(f"{other}.{name}")
    return names


def test_inventory_has_every_public_name(inventory):
    documented = {
        name for kind, entries in inventory.items() if kind.startswith("py:") for name in entries
    }
    missing = [
        f"{path}.{name}"
        for path, name in _public_names()
        if not any(full in documented for full in _documented_as(path, name))
    ]
    assert not missing, f"{len(missing)} public names have no entry in the docs: {missing}"


def test_inventory_has_the_flags_and_the_modules(inventory):
    documented = {name for entries in inventory.values() for name in entries}
    for flag in ("HAS_MATPLOTLIB", "HAS_TENSORBOARD"):
        assert f"norse.torch.{flag}" in documented
    # the family sections make :mod: references to the model modules resolve
    for model in ("lif", "lif_box", "lsnn", "izhikevich"):
        assert f"norse.torch.functional.{model}" in documented
        assert f"norse.torch.module.{model}" in documented


def test_nothing_lands_in_other_unnoticed(html):
    """Names no section claims go to "Other public names"; that page lists what it holds."""
    other = list((html / "api" / "sections").glob("*_other.html"))
    if other:
        text = other[0].read_text()
        assert "Other public names" in text


def test_class_page_shows_signature_equations_and_example(html):
    page = (html / "api" / "generated" / "norse.torch.module.lif.LIF.html").read_text()
    assert "Model equations" in page and r"\tau_{mem}" in page
    assert "record_states" in page  # the signature
    assert "&gt;&gt;&gt;" in page  # the runnable example
    assert "norse.torch.LIF" in page  # where else it can be imported from


@pytest.mark.parametrize("source", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_ran_and_its_plots_are_images(html, source):
    page = html / "tutorials" / f"{source.stem}.html"
    assert page.exists(), f"{source.name} is not in the site"
    text = page.read_text()
    assert "cell_output" in text, f"{source.name} shows no outputs: was it executed?"
    assert "Traceback" not in text
    if "plt." in source.read_text():
        images = re.findall(r'<img[^>]+src="([^"]+\.png)"', text)
        assert images, f"{source.name} plots, but its page has no image"
        for src in images:
            assert (page.parent / src).resolve().exists(), f"{source.name}: {src} is missing"


def test_every_guide_is_a_page(html):
    for guide in DOCS.glob("*.md"):
        assert (html / f"{guide.stem}.html").exists(), f"docs/{guide.name} is not in the site"
