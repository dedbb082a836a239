"""Generate the API reference of ``norse.torch`` from the package's public names.

Sphinx extension and script. ``docs/conf.py`` calls :func:`write`, which writes one page per
section into ``docs/api/sections/`` and one page per object into ``docs/api/generated/`` (an ``autosummary`` table per neuron family, per module group, ...), whose rows link to the
object pages. Both folders are build products (git-ignored).

Which names: every module of ``norse.torch`` (private ones and the kernels' internals left
out) contributes its ``__all__`` (or, without one, the public names it defines), together with
``norse.torch.__all__`` and the names the API test table lists (``tests/api_names.py``). Each
object is documented once, at the module that defines it; re-exports (``norse.torch.LIF`` is
``norse.torch.module.lif.LIF``) point there. A name whose module no section claims lands in the
section "Other public names", so nothing is ever dropped silently.

Also: the class pages of the neuron layers get the model's update equations (the docstring of
``norse.torch.functional.<model>``) appended, and the "Alias for field number N" members of
parameter and state tuples are left out (their fields are listed in the docstring).

Run as a script (``python docs/_ext/norse_api.py``) to print the sections and their counts.
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
import pkgutil
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent
ROOT = DOCS.parent
PACKAGE = "norse.torch"

# ------------------------------------------------------------------------------ sections
# (slug, title, intro, module patterns relative to norse.torch). First match wins; the order
# of this list is the order of the pages.
NEURON_FAMILIES = [
    ("Integrate-and-fire (IAF)", ["functional.iaf", "module.iaf"]),
    ("Leaky integrator (LI)", ["functional.leaky_integrator", "module.leaky_integrator"]),
    (
        "Leaky integrator, box model",
        ["functional.leaky_integrator_box", "module.leaky_integrator_box"],
    ),
    ("Leaky integrate-and-fire (LIF)", ["functional.lif", "module.lif"]),
    ("LIF, box model", ["functional.lif_box", "module.lif_box"]),
    ("LIF, conductance based", ["functional.coba_lif", "module.coba_lif"]),
    ("LIF, refractory", ["functional.lif_refrac", "module.lif_refrac"]),
    ("LIF, exponential", ["functional.lif_ex", "module.lif_ex"]),
    ("LIF, adaptive exponential", ["functional.lif_adex", "module.lif_adex"]),
    (
        "LIF, adaptive exponential with refraction",
        ["functional.lif_adex_refrac", "module.lif_adex_refrac"],
    ),
    ("LIF, multicompartmental", ["functional.lif_mc", "module.lif_mc"]),
    (
        "LIF, multicompartmental with refraction",
        ["functional.lif_mc_refrac", "module.lif_mc_refrac"],
    ),
    ("Long short-term memory (LSNN)", ["functional.lsnn", "module.lsnn"]),
    ("Izhikevich", ["functional.izhikevich", "module.izhikevich"]),
]

SECTIONS: list[tuple[str, str, str, list[str]]] = [
    (
        "containers",
        "Containers",
        "Modules for spiking neural networks, adhering to the ``torch.nn.Module`` interface: "
        "lifting a stateless module over time, chaining stateful layers, regularisation.",
        [
            "module.lift",
            "functional.lift",
            "module.sequential",
            "module.regularization",
            "functional.regularization",
        ],
    ),
    (
        "layers",
        "Layers: convolutions, synapses, filters",
        "A 2d convolution applied pointwise in time, spike-sparse linear synapses and "
        "exponential filters.",
        [
            "module.conv",
            "module.spike_linear",
            "functional.spike_linear",
            "module.exp_filter",
            "functional.filter",
        ],
    ),
    (
        "encoding",
        "Encoding and decoding",
        "Turning values into spikes (Poisson, population, latency and constant-current "
        "encoders) and spikes back into values.",
        [
            "module.encode",
            "functional.encode",
            "functional.decode",
            "module.spikes_to_times_decoder",
            "functional.spikes_to_times_decoder",
        ],
    ),
    (
        "neurons",
        "Neuron models",
        "One subsection per model family: the model's equations, its parameters and states, "
        "the layers (``Cell`` for one step, the plain name for a whole sequence, "
        "``Recurrent`` variants with recurrent weights) and the functional step functions. "
        "The tutorial :doc:`/tutorials/07_lif_family` compares the LIF variants.",
        [p for _, patterns in NEURON_FAMILIES for p in patterns],
    ),
    (
        "snn",
        "Writing neuron models: the SNN base classes",
        "The generic layers every neuron model is built on; ``SNN(step, state_fallback, p)`` "
        "runs a step function of your own (see :doc:`/tutorials/06_custom_neuron`).",
        ["module.snn"],
    ),
    (
        "thresholds",
        "Thresholds and surrogate gradients",
        "Spike thresholds with their surrogate gradients (the ``method`` field of the "
        "parameters), reset methods and logical operations on spikes.",
        [
            "functional.threshold",
            "functional.superspike",
            "functional.heaviside",
            "functional.reset",
            "functional.logical",
        ],
    ),
    (
        "receptive_fields",
        "Receptive fields",
        "Receptive fields derived from scale-space theory (Lindeberg, *Normative theory of "
        "visual receptive fields*, 2021), for spiking and binary signals as in Pedersen et al., "
        "2023.",
        ["module.receptive_field", "functional.receptive_field"],
    ),
    (
        "plasticity",
        "Plasticity",
        "Spike-timing-dependent plasticity (STDP), short-term plasticity (Tsodyks-Markram) and "
        "correlation sensors. Guide: :doc:`/plasticity`; tutorial: "
        ":doc:`/tutorials/08_plasticity`.",
        [
            "functional.stdp",
            "module.stdp",
            "functional.stdp_sensor",
            "functional.tsodyks_makram",
            "functional.correlation_sensor",
            "functional.lif_correlation",
            "module.lif_correlation",
        ],
    ),
    (
        "delays",
        "Synaptic delays",
        "Delaying spikes on their way from one layer to the next: one delay per neuron "
        "(axonal) or per connection (synaptic), fixed or learnable."
        + (" Guide: :doc:`/delays`." if (DOCS / "delays.md").exists() else ""),
        ["*delay*"],
    ),
    (
        "losses",
        "Losses and decoders for training",
        "Losses on spiking outputs (cross-entropy on counts or voltages, count MSE, first-spike "
        "times, population decoding) and accuracy.",
        ["functional.loss", "module.loss"],
    ),
    (
        "nir",
        "NIR",
        "Export to and import from the Neuromorphic Intermediate Representation. Guide: "
        ":doc:`/nir`; tutorial: :doc:`/tutorials/09_nir`.",
        ["utils.export_nir", "utils.import_nir", "utils.nir_mapping"],
    ),
    (
        "models",
        "Models",
        "Ready-made network architectures (convolutional networks, VGG, MobileNetV2).",
        ["models", "models.*"],
    ),
    (
        "adjoint",
        "Adjoint gradients",
        "Step functions whose backward pass is computed with the adjoint method "
        "(``norse.torch.functional.adjoint``).",
        ["functional.adjoint", "functional.adjoint.*"],
    ),
    (
        "utilities",
        "Utilities",
        "Parameter and state trees, cloning, plotting, TensorBoard hooks and the flags that "
        "say which optional extras are installed.",
        ["", "utils", "utils.*"],
    ),
    (
        "backends",
        "Backends",
        "Choosing and inspecting the backend that runs a sequence layer (see "
        ":doc:`/tutorials/10_performance`).",
        ["kernels"],
    ),
]
OTHER = (
    "other",
    "Other public names",
    "Public names of ``norse.torch`` that no section above claims yet (new modules land "
    "here until they are given a section).",
)
MODULE_INDEX_INTRO = (
    "Every public module of ``norse.torch``. The names of a module are documented in the "
    "section of their topic; each object's page says from which modules it can be imported."
)
# norse.torch.kernels is documented through its package (``__all__``) only.
SKIP_MODULES = ("norse.torch.kernels.*",)


@dataclass
class Entry:
    """One documented object: its home (where it is defined) and the paths that export it."""

    home: str  # module path
    name: str  # attribute name (qualname's first part) in ``home``
    obj: object
    aliases: set[str] = field(default_factory=set)

    @property
    def fullname(self) -> str:
        return f"{self.home}.{self.name}"


def _is_private(modname: str) -> bool:
    return any(part.startswith("_") for part in modname.split("."))


def public_modules() -> list[str]:
    """``norse.torch`` and its public submodules (imported)."""
    root = importlib.import_module(PACKAGE)
    names = [PACKAGE]
    for info in pkgutil.walk_packages(root.__path__, prefix=PACKAGE + "."):
        if _is_private(info.name) or any(fnmatch.fnmatch(info.name, p) for p in SKIP_MODULES):
            continue
        names.append(info.name)
    for name in names:
        importlib.import_module(name)
    return sorted(names)


def module_public_names(modname: str) -> list[str]:
    """``__all__``, or the public names the module defines itself."""
    module = importlib.import_module(modname)
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [
        n
        for n, obj in vars(module).items()
        if not n.startswith("_")
        and not inspect.ismodule(obj)
        and getattr(obj, "__module__", None) == modname
    ]


def table_names() -> dict[str, frozenset[str]]:
    """The API test table (``tests/api_names.py``), where the repository has it."""
    tests = ROOT / "tests"
    if not (tests / "api_names.py").exists():
        return {}
    sys.path.insert(0, str(tests))
    try:
        import api_names
    finally:
        sys.path.remove(str(tests))
    table = dict(api_names.expected_modules())
    table.pop("norse", None)
    table[PACKAGE] = table[PACKAGE] - api_names.TOP_LEVEL_ATTRIBUTES
    return table


def all_public_names() -> dict[str, set[str]]:
    """Module path -> public names, from the package and the test table."""
    names: dict[str, set[str]] = {m: set(module_public_names(m)) for m in public_modules()}
    for path, extra in table_names().items():
        names.setdefault(path, set()).update(extra)
    for path in list(names):
        module = importlib.import_module(path)
        names[path] = {n for n in names[path] if not inspect.ismodule(getattr(module, n, None))}
    return names


def _home_of(obj: object) -> tuple[str, str] | None:
    """``(module, name)`` where a class or function is defined, if it is reachable there."""
    if not (inspect.isclass(obj) or inspect.isroutine(obj)):
        return None
    modname = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not modname or not qualname or "." in qualname or "<" in qualname:
        return None
    if not modname.startswith(PACKAGE):
        return None
    try:
        module = importlib.import_module(modname)
    except ImportError:
        return None
    if getattr(module, qualname, None) is not obj:
        return None
    return modname, qualname


def collect() -> dict[str, Entry]:
    """Full name -> entry, one per documented object."""
    by_id: dict[int, Entry] = {}
    data: list[tuple[str, str, object]] = []
    names = all_public_names()
    for path in sorted(names):
        module = importlib.import_module(path)
        for name in sorted(names[path]):
            obj = getattr(module, name)
            home = _home_of(obj)
            if home is None:
                data.append((path, name, obj))
                continue
            entry = by_id.setdefault(id(obj), Entry(home[0], home[1], obj))
            entry.aliases.add(f"{path}.{name}")
    # Data (constants, presets, type aliases): documented at the most specific module that
    # exports it under that name; the same object under the same name elsewhere points there.
    entries = {e.fullname: e for e in by_id.values()}
    data_homes: dict[tuple[str, int], Entry] = {}

    def specificity(item: tuple[str, str, object]) -> tuple[int, int, str]:
        path = item[0]
        is_package = hasattr(importlib.import_module(path), "__path__")
        return (int(is_package), -path.count("."), path)

    for path, name, obj in sorted(data, key=specificity):
        key = (name, id(obj))
        if key not in data_homes:
            data_homes[key] = entries.setdefault(f"{path}.{name}", Entry(path, name, obj))
        data_homes[key].aliases.add(f"{path}.{name}")
    return entries


def _section_of(home: str) -> str:
    relative = home[len(PACKAGE) + 1 :] if home != PACKAGE else ""
    for slug, _, _, patterns in SECTIONS:
        if any(fnmatch.fnmatchcase(relative, p) for p in patterns):
            return slug
    return OTHER[0]


def _rank(entry: Entry) -> tuple[int, str]:
    obj = entry.obj
    if inspect.isclass(obj):
        import torch

        if issubclass(obj, tuple):
            return 0, entry.name
        if issubclass(obj, torch.nn.Module):
            return 1, entry.name
        return 2, entry.name
    if inspect.isroutine(obj):
        return 3, entry.name
    return 4, entry.name


_GROUPS = ["Parameters and states", "Modules", "Classes", "Functions", "Constants and presets"]


def _autosummary(entries: list[Entry]) -> list[str]:
    lines: list[str] = []
    groups: dict[int, list[Entry]] = {}
    for entry in sorted(entries, key=_rank):
        groups.setdefault(_rank(entry)[0], []).append(entry)
    for rank, members in groups.items():
        lines += [f".. rubric:: {_GROUPS[rank]}", ""]
        # Names relative to a current module of norse.torch: autosummary's stub scanner
        # prefixes every name with the current module (an automodule above sets it).
        lines += [f".. currentmodule:: {PACKAGE}", ""]
        lines += [".. autosummary::", "   :nosignatures:", ""]
        lines += [f"   ~{e.fullname[len(PACKAGE) + 1 :]}" for e in members]
        lines.append("")
    return lines


def _module_targets(modules: set[str], shown: set[str]) -> list[str]:
    """Make ``:mod:`` references to the section's modules resolve (no visible output)."""
    lines: list[str] = []
    for modname in sorted(modules - shown):
        lines += [f".. py:module:: {modname}", ""]
    return lines


def _title(text: str, char: str) -> list[str]:
    return [text, char * len(text), ""]


_ENTRIES: dict[str, Entry] = {}


def render() -> dict[str, str]:
    """Page file name -> reStructuredText, one page per non-empty section."""
    entries = collect()
    _ENTRIES.clear()
    _ENTRIES.update(entries)
    by_section: dict[str, list[Entry]] = {}
    for entry in entries.values():
        by_section.setdefault(_section_of(entry.home), []).append(entry)
    pages: dict[str, str] = {}
    targeted: set[str] = set()
    for index, (slug, title, intro, _) in enumerate([*SECTIONS, (*OTHER, [])]):
        members = by_section.get(slug, [])
        if not members:
            continue
        lines = [f".. _api-{slug}:", "", *_title(title, "="), intro, ""]
        modules = {e.home for e in members}
        shown: set[str] = set()
        if slug == "neurons":
            for family, family_patterns in NEURON_FAMILIES:
                group = [
                    e
                    for e in members
                    if any(
                        fnmatch.fnmatchcase(e.home[len(PACKAGE) + 1 :], p) for p in family_patterns
                    )
                ]
                if not group:
                    continue
                lines += _title(family, "-")
                functional = f"{PACKAGE}.{family_patterns[0]}"
                if functional in modules:
                    # The model's description and equations, from its functional module.
                    lines += [f".. automodule:: {functional}", "   :no-members:", ""]
                    shown.add(functional)
                lines += _module_targets({e.home for e in group}, shown)
                shown |= {e.home for e in group}
                lines += _autosummary(group)
        else:
            lines += _autosummary(members)
        lines += _module_targets(modules, shown)
        targeted |= modules
        pages[f"{index:02d}_{slug}.rst"] = "\n".join(lines).rstrip() + "\n"
    pages["99_modules.rst"] = _module_index(targeted)
    return pages


def _module_index(targeted: set[str]) -> str:
    """A page listing every public module with its summary; the modules no section page
    holds get their ``:mod:`` target here."""
    lines = [".. _api-modules:", "", *_title("Module index", "="), MODULE_INDEX_INTRO, ""]
    lines += [".. list-table::", "   :widths: 40 60", ""]
    targets: list[str] = []
    for modname in public_modules():
        doc = (inspect.getdoc(importlib.import_module(modname)) or "").strip()
        summary = doc.split("\n\n")[0].replace("\n", " ") if doc else ""
        if len(summary) > 200:
            summary = summary[:200].rsplit(" ", 1)[0] + " ..."
        lines += [f"   * - :mod:`{modname}`", f"     - {summary}"]
        if modname not in targeted:
            targets.append(modname)
    lines.append("")
    for modname in targets:  # after the table: a py:module directive sets the current module
        lines += [f".. py:module:: {modname}", ""]
    return "\n".join(lines).rstrip() + "\n"


def _directive(entry: Entry) -> tuple[str, list[str]]:
    obj = entry.obj
    if inspect.isclass(obj):
        return "autoclass", [":members:", ":show-inheritance:"]
    if inspect.isroutine(obj):
        return "autofunction", []
    return "autodata", [":no-value:"]


def render_object_pages() -> dict[str, str]:
    """One page per object (``<full name>.rst``): its autodoc entry.

    The pages are orphans, out of the navigation tree: with some 400 of them in the toctree
    every page of the site would carry (and Sphinx recompute) a navigation tree of all of
    them. The section pages link to them through their ``autosummary`` tables.
    """
    titles = {slug: title for slug, title, _, _ in [*SECTIONS, (*OTHER, [])]}
    pages = {}
    for fullname, entry in (_ENTRIES or collect()).items():
        directive, options = _directive(entry)
        slug = _section_of(entry.home)
        lines = [":orphan:", "", *_title(entry.name.replace("_", r"\_"), "=")]
        lines += [f"*API reference:* :ref:`{titles[slug]} <api-{slug}>`", ""]
        lines += [f".. currentmodule:: {entry.home}", "", f".. {directive}:: {entry.name}"]
        lines += [f"   {option}" for option in options]
        pages[f"{fullname}.rst"] = "\n".join(lines) + "\n"
    return pages


def _write_pages(outdir: Path, pages: dict[str, str]) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    for old in outdir.glob("*.rst"):
        if old.name not in pages:
            old.unlink()
    for name, text in pages.items():
        path = outdir / name
        if not path.exists() or path.read_text() != text:  # keep mtimes: incremental builds
            path.write_text(text)


def write(apidir: Path) -> None:
    """Write the section pages into ``apidir/sections`` and the object pages into
    ``apidir/generated`` (replacing what was there)."""
    _write_pages(apidir / "sections", render())
    _write_pages(apidir / "generated", render_object_pages())


# ------------------------------------------------------------------------------ Sphinx hooks
_FIELD_ALIAS = "Alias for field number"


def _skip_member(app, what, name, obj, skip, options):
    doc = getattr(obj, "__doc__", None) or ""
    if doc.startswith(_FIELD_ALIAS):
        return True
    return None


def _model_equations(obj) -> str | None:
    """The docstring of ``norse.torch.functional.<model>`` for a layer of that model."""
    modname = getattr(obj, "__module__", "") or ""
    prefix = f"{PACKAGE}.module."
    if not modname.startswith(prefix):
        return None
    try:
        functional = importlib.import_module(f"{PACKAGE}.functional.{modname[len(prefix) :]}")
    except ImportError:
        return None
    doc = inspect.getdoc(functional) or ""
    return doc if "math::" in doc else None


def _process_docstring(app, what, name, obj, options, lines):
    entry = _ENTRIES.get(name)
    if entry is None:  # a member, or an object outside the reference
        return
    kind = type(obj)
    if what == "data" and "\n".join(lines).strip() == (inspect.getdoc(kind) or "").strip():
        lines.clear()  # autodoc shows the docstring of the value's type (dict, ...)
    if what == "data" and not any(line.strip() for line in lines):
        # (no bare colon: napoleon reads "type: text" in the first line of a data docstring)
        lines += [f"An instance of :class:`~{kind.__module__}.{kind.__qualname__}` (a constant)."]
    if what == "class" and inspect.isclass(obj):
        doc = _model_equations(obj)
        if doc is not None:
            lines += ["", ".. rubric:: Model equations", "", *textwrap.dedent(doc).splitlines()]
    others = sorted(entry.aliases - {name})
    if others:
        paths = ", ".join(f"``{path}``" for path in others)
        lines += ["", f"*Also importable as* {paths}."]


def _process_bases(app, name, obj, options, bases):
    """Leave out the generated named-tuple bases of parameter and state classes
    (``LIFParameters_nm_base``): an implementation detail of ``MultipleInheritanceNamedTupleMeta``."""
    bases[:] = [b for b in bases if not getattr(b, "__name__", "").endswith("_nm_base")]


def _describe_default(original):
    """Show parameter tuples in signatures by name and by their non-default fields
    (``LIFParameters()``, ``LIFParameters(v_th=tensor(0.5))``) instead of as a bare tuple."""

    def describe(obj, *args, **kwargs):
        if isinstance(obj, tuple) and hasattr(obj, "_fields"):
            kind = type(obj)
            try:
                default = kind()
            except Exception:  # noqa: BLE001 - fields without defaults
                default = None
            changed = [
                f"{name}={original(value)}"
                for index, (name, value) in enumerate(zip(obj._fields, obj, strict=True))
                if default is None or repr(default[index]) != repr(value)
            ]
            return f"{kind.__name__}({', '.join(changed)})"
        return original(obj, *args, **kwargs)

    describe.__wrapped__ = original
    return describe


def setup(app):
    import sphinx.util.inspect

    if not hasattr(sphinx.util.inspect.object_description, "__wrapped__"):
        sphinx.util.inspect.object_description = _describe_default(
            sphinx.util.inspect.object_description
        )
    app.connect("autodoc-skip-member", _skip_member)
    app.connect("autodoc-process-bases", _process_bases)
    # before napoleon (500), which reformats data docstrings
    app.connect("autodoc-process-docstring", _process_docstring, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    entries = collect()
    counts: dict[str, int] = {}
    for entry in entries.values():
        counts[_section_of(entry.home)] = counts.get(_section_of(entry.home), 0) + 1
    for slug, count in counts.items():
        print(f"{slug:20s} {count}")
    print(f"{len(entries)} objects")
