"""Sphinx configuration of the norse documentation site.

Build: ``make docs`` (``python -m sphinx -W -b html docs docs/_build/html``). The API reference
is generated from the package's public names by ``docs/_ext/norse_api.py``; the tutorials in
``docs/tutorials/`` are MyST notebooks executed during the build (myst-nb).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))  # the repository's norse, also without an install
sys.path.insert(0, str(DOCS / "_ext"))

# The tutorials' Jupyter kernels inherit this environment.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(DOCS.parent), os.environ.get("PYTHONPATH", "")) if p
)
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("NORSE_CPU_PRECOMPILE", "0")  # no compiles left running after the build

# The API reference's pages (docs/api/sections/, docs/api/generated/), written before Sphinx
# looks for source files, so that a fresh clone has them.
import norse_api  # noqa: E402

norse_api.write(DOCS / "api")

project = "norse"
author = "the norse developers"
copyright = "the norse developers"  # noqa: A001 - Sphinx's name
try:
    from importlib.metadata import version as _version

    release = _version("norse")
except Exception:  # noqa: BLE001 - docs build from a plain checkout too
    release = "0.1.0"
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax shipped with the site: equations render offline
    "sphinx_copybutton",
    "myst_nb",
    "norse_api",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints", "jupyter_execute"]
suppress_warnings: list[str] = []

# --- autodoc / autosummary --------------------------------------------------------------------
autosummary_generate = False  # the object pages come from norse_api
autosummary_imported_members = False
autodoc_typehints = "signature"
autodoc_member_order = "bysource"
autodoc_class_signature = "mixed"
autodoc_preserve_defaults = True
autodoc_inherit_docstrings = False
autodoc_mock_imports: list[str] = []
add_module_names = False
python_display_short_literal_types = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

# --- MyST / myst-nb ---------------------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
nb_execution_mode = "cache"
nb_execution_cache_path = str(DOCS / "_build" / ".jupyter_cache")
nb_execution_timeout = 180
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
nb_kernel_rgx_aliases = {".*": "python3"}

# --- HTML -------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"norse {release}"
html_static_path = ["_static"]
html_css_files = ["norse.css"]
html_show_sourcelink = False
html_theme_options = {
    "source_directory": "docs/",
    "navigation_with_keys": True,
}
