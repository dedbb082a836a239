"""Neuron parameters inside modules, the pytree ``StateTuple`` API, ``clone_tensor``, reprs.

Our parameter handling differs from 1.1.0 on purpose (docs/compatibility.md): parameter
tensors follow the module (``.to()``, ``.double()``), ``nn.Parameter`` fields are registered,
and class-level defaults are copied per module. Tensors a user passes stay the same objects.
"""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.utils import _pytree

import norse.torch as snn
from norse.torch._registry import MODELS, module_classes
from norse.torch.functional.lif import LIFParameters
from norse.torch.functional.lif_box import LIFBoxParameters
from norse.torch.module._parameters import CHILD
from norse.torch.utils import pytree
from norse.torch.utils.clone import clone_tensor

IN, HID, B, N, T = 3, 4, 2, 5, 4
RECURRENT = ("recurrent_cell", "recurrent")
LIF_CLASSES = [snn.LIFCell, snn.LIF, snn.LIFRecurrentCell, snn.LIFRecurrent]
LIF_IDS = [c.__name__ for c in LIF_CLASSES]


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def tensor_fields(p: Any, prefix: str = "") -> list[tuple[str, Tensor]]:
    """``(dotted path, tensor)`` for every tensor in a (nested) parameter tuple."""
    found = []
    for name, value in zip(p._fields, p, strict=True):
        if _is_namedtuple(value):
            found += tensor_fields(value, f"{prefix}{name}.")
        elif isinstance(value, Tensor):
            found.append((prefix + name, value))
    return found


def numeric_fields(p: Any, prefix: str = "") -> list[tuple[str, Tensor | float]]:
    """``(dotted path, value)`` for every floating tensor or python number in ``p``."""
    found = []
    for name, value in zip(p._fields, p, strict=True):
        if _is_namedtuple(value):
            found += numeric_fields(value, f"{prefix}{name}.")
        elif isinstance(value, Tensor) and value.is_floating_point() and value.numel() == 1:
            found.append((prefix + name, value))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            found.append((prefix + name, value))
    return found


def replace_path(p: Any, path: str, value: Any) -> Any:
    head, _, rest = path.partition(".")
    if rest:
        return p._replace(**{head: replace_path(getattr(p, head), rest, value)})
    return p._replace(**{head: value})


def get_path(p: Any, path: str) -> Any:
    for part in path.split("."):
        p = getattr(p, part)
    return p


def make(spec, kind, model_kwargs, **extra):
    cls = module_classes(spec)[kind]
    kwargs = {**model_kwargs(spec.name), **extra}
    return cls(IN, HID, **kwargs) if kind in RECURRENT else cls(**kwargs)


def make_input(kind: str, drive: float, dtype=torch.float32) -> Tensor:
    shape = (B, IN if kind in RECURRENT else N)
    if kind in ("layer", "recurrent"):
        shape = (T, *shape)
    return (drive * (0.5 + torch.rand(shape))).to(dtype)


def run_loss(m: nn.Module, x: Tensor) -> Tensor:
    out, state = m(x)
    loss = out.sum()
    for leaf in _pytree.tree_leaves(state):
        if isinstance(leaf, Tensor) and leaf.is_floating_point():
            loss = loss + leaf.sum()
    return loss


CASES = [
    pytest.param(spec, kind, id=f"{spec.name}-{kind}")
    for spec in MODELS
    for kind in module_classes(spec)
]
FEED_FORWARD_CASES = [c for c in CASES if c.values[1] in ("cell", "layer")]


# ----------------------------------------------------------------------------- registry-wide
@pytest.mark.parametrize("spec, kind", CASES)
def test_parameter_fields_are_registered_and_learn(spec, kind, model_kwargs, model_drive):
    m = make(spec, kind, model_kwargs)
    p = m.p
    fields = numeric_fields(p)
    paths = [path for path, _ in fields]
    assert paths, "the model has no numeric parameters"
    for path, value in fields:
        p = replace_path(p, path, nn.Parameter(torch.as_tensor(float(value))))
    m.p = p
    named = dict(m.named_parameters())
    state_dict = m.state_dict()
    for path in paths:
        key = f"{CHILD}.{path}"
        assert key in named, f"{key} missing from named_parameters(): {sorted(named)}"
        assert key in state_dict, f"{key} missing from state_dict()"
        assert named[key] is get_path(p, path), "a user's nn.Parameter must stay the same object"
    run_loss(m, make_input(kind, model_drive(spec.name))).backward()
    grads = [get_path(p, path).grad for path in paths]
    assert any(g is not None and g.abs().sum() > 0 for g in grads), "no parameter got a gradient"
    assert all(g is None or torch.isfinite(g).all() for g in grads)
    # an optimiser step changes what the module computes with
    before = {path: get_path(m.p, path).detach().clone() for path in paths}
    torch.optim.SGD(m.parameters(), lr=0.1).step()
    assert any(not torch.equal(get_path(m.p, path), before[path]) for path in paths)


@pytest.mark.parametrize("spec, kind", CASES)
def test_default_parameter_tensors_are_not_shared(spec, kind, model_kwargs):
    m1 = make(spec, kind, model_kwargs)
    m2 = make(spec, kind, model_kwargs)
    class_defaults = dict(tensor_fields(spec.parameters())) if _defaults_complete(spec) else {}
    saved = {path: t.clone() for path, t in class_defaults.items()}
    fields2 = dict(tensor_fields(m2.p))
    for path, t1 in tensor_fields(m1.p):
        assert t1 is not fields2[path], f"p.{path} is shared between two modules"
        before = fields2[path].clone()
        with torch.no_grad():
            t1.add_(1)
        assert torch.equal(fields2[path], before), f"editing p.{path} changed another module"
    for path, t in class_defaults.items():
        assert torch.equal(t, saved[path]), f"editing p.{path} changed the class default"


def _defaults_complete(spec) -> bool:
    try:
        spec.parameters()
    except TypeError:  # e.g. Izhikevich parameters have required fields
        return False
    return True


@pytest.mark.parametrize("spec, kind", CASES)
def test_user_tensor_is_kept(spec, kind, model_kwargs):
    m = make(spec, kind, model_kwargs)
    path, value = numeric_fields(m.p)[0]
    mine = torch.as_tensor(float(value))
    m.p = replace_path(m.p, path, mine)
    assert get_path(m.p, path) is mine


@pytest.mark.parametrize("convert", ["double", "to"])
@pytest.mark.parametrize("spec, kind", CASES)
def test_double_moves_parameters(spec, kind, convert, model_kwargs, model_drive):
    m = make(spec, kind, model_kwargs)
    m = m.double() if convert == "double" else m.to(torch.float64)
    for path, t in tensor_fields(m.p):
        if torch.is_floating_point(t):
            assert t.dtype == torch.float64, f"p.{path} stayed {t.dtype}"
    x = make_input(kind, model_drive(spec.name), torch.float64)
    out, _ = m(x)
    assert out.dtype == torch.float64


@pytest.mark.parametrize("spec, kind", CASES)
def test_parameters_follow_device(spec, kind, device, model_kwargs):
    m = make(spec, kind, model_kwargs).to(device)
    for path, t in tensor_fields(m.p):
        assert t.device.type == device.type, f"p.{path} on {t.device}"


@pytest.mark.parametrize("spec, kind", FEED_FORWARD_CASES)
def test_per_neuron_parameters_broadcast(spec, kind, model_kwargs, model_drive):
    """A parameter of shape (N,) acts like N modules with one scalar value each."""
    m = make(spec, kind, model_kwargs)
    candidates = [p for p, _ in numeric_fields(m.p) if "alpha" not in p]
    path = next((p for p in candidates if "tau" in p), candidates[0])
    scale = torch.tensor([0.5, 1.0, 2.0, 1.5, 0.8])
    per_neuron = float(get_path(m.p, path)) * scale
    m.p = replace_path(m.p, path, per_neuron)
    x = make_input(kind, model_drive(spec.name))
    out, _ = m(x)
    assert out.shape == x.shape
    for j in range(N):
        single = make(spec, kind, model_kwargs)
        single.p = replace_path(single.p, path, per_neuron[j])
        expected, _ = single(x[..., j : j + 1])
        torch.testing.assert_close(out[..., j : j + 1], expected)


@pytest.mark.parametrize("spec, kind", CASES)
def test_python_numbers_become_tensors_in_lif_family(spec, kind, model_kwargs):
    """§0.3: LIF-family modules pass numeric fields through ``torch.as_tensor``; the others
    store ``p`` as given."""
    m = make(spec, kind, model_kwargs)
    path, value = numeric_fields(m.p)[0]
    m.p = replace_path(m.p, path, float(value))
    stored = get_path(m.p, path)
    if spec.parameters_as_tensors:
        assert isinstance(stored, Tensor)
    else:
        assert isinstance(stored, float)


# ----------------------------------------------------------------------------- LIF modules
@pytest.mark.parametrize("cls", LIF_CLASSES, ids=LIF_IDS)
def test_lif_modules_accept_numbers(cls):
    args = (IN, HID) if "Recurrent" in cls.__name__ else ()
    m = cls(*args, p=LIFParameters(tau_mem_inv=50.0, v_th=2, v_leak=0.0))
    for name in ("tau_mem_inv", "v_th", "v_leak"):
        assert isinstance(getattr(m.p, name), Tensor), name
    assert m.p.method == "super"
    assert float(m.p.v_th) == 2.0
    x = torch.rand((T, B, IN) if "Recurrent" in cls.__name__ else (T, B, N))
    if cls in (snn.LIFCell, snn.LIFRecurrentCell):
        x = x[0]
    out, _ = m(x)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("cls", LIF_CLASSES, ids=LIF_IDS)
def test_lif_user_tensor_same_object_and_default_copied(cls):
    args = (IN, HID) if "Recurrent" in cls.__name__ else ()
    th = torch.tensor(0.7)
    m = cls(*args, p=LIFParameters(v_th=th))
    assert m.p.v_th is th
    # an explicit LIFParameters() holds the class defaults, which are copied as well
    m2 = cls(*args, p=LIFParameters())
    assert m2.p.tau_mem_inv is not LIFParameters().tau_mem_inv
    with torch.no_grad():
        m2.p.tau_mem_inv.mul_(2)
    assert float(LIFParameters().tau_mem_inv) == 100.0


def test_per_neuron_threshold_lif_cell():
    cell = snn.LIFCell(LIFParameters(v_th=torch.tensor([0.5, 1.0, 100.0])))
    x = torch.full((T * 3, 1, 3), 2.0)
    spikes = []
    state = None
    for x_t in x.unbind(0):
        z, state = cell(x_t, state)
        spikes.append(z)
    first = [int(torch.stack(spikes)[:, 0, j].nonzero()[0]) for j in range(2)]
    assert first[0] < first[1], "a lower threshold must fire first"
    assert torch.stack(spikes)[:, 0, 2].sum() == 0, "an unreachable threshold never fires"


def test_assigning_p_takes_effect():
    cell = snn.LIFCell()
    x = torch.full((2, 3), 15.0)  # v = 1.5 after one step
    assert cell(x)[0].sum() == 6
    cell.p = LIFParameters(v_th=torch.tensor(2.0))
    assert isinstance(cell.p, LIFParameters)
    assert cell(x)[0].sum() == 0


# ----------------------------------------------------------------------------- reprs
DEFAULT_LIF_REPR = (
    "LIFParameters(tau_syn_inv=tensor(200.), tau_mem_inv=tensor(100.), v_leak=tensor(0.), "
    "v_th=tensor(1.), v_reset=tensor(0.), method='super', alpha=tensor(100.))"
)


def test_lif_parameters_repr():
    assert repr(LIFParameters()) == DEFAULT_LIF_REPR


@pytest.mark.parametrize("cls", [snn.LIFCell, snn.LIF], ids=["LIFCell", "LIF"])
def test_feed_forward_module_str(cls):
    assert str(cls()) == f"{cls.__name__}(p={DEFAULT_LIF_REPR}, dt=0.001)"


@pytest.mark.parametrize("cls", [snn.LIFRecurrentCell, snn.LIFRecurrent], ids=["cell", "layer"])
def test_recurrent_module_str(cls):
    expected = (
        f"{cls.__name__}(input_size=2, hidden_size=3, p={DEFAULT_LIF_REPR}, "
        "autapses=False, dt=0.001)"
    )
    assert str(cls(2, 3)) == expected


# ----------------------------------------------------------------------------- pickling
@pytest.mark.parametrize(
    "p",
    [LIFParameters(), LIFParameters(v_th=torch.tensor([0.5, 1.0]), method="tanh")]
    + [LIFBoxParameters()],
    ids=["lif-default", "lif-custom", "lif_box"],
)
def test_parameter_tuples_pickle(p):
    for q in (pickle.loads(pickle.dumps(p)), copy.deepcopy(p)):
        assert type(q) is type(p)
        assert q._fields == p._fields
        for a, b in zip(p, q, strict=True):
            if isinstance(a, Tensor):
                assert torch.equal(a, b)
            else:
                assert a == b


# ----------------------------------------------------------------------------- pytree (§7.2)
class Triple(pytree.StateTuple, metaclass=pytree.MultipleInheritanceNamedTupleMeta):
    """A state tuple in the form the 1.1.0 tests use."""

    x: Tensor
    y: Tensor = torch.as_tensor(2.0)
    z: float = 1.28


def test_state_tuple_construction():
    s = Triple(torch.ones(2))
    assert isinstance(s, tuple) and isinstance(s, pytree.StateTuple)
    assert s._fields == ("x", "y", "z")
    assert float(s.y) == 2.0 and s.z == 1.28
    assert torch.equal(s[0], torch.ones(2))
    k = Triple(x=torch.zeros(1), z=3.0)
    assert k.z == 3.0 and float(k.y) == 2.0
    r = k._replace(z=4.0)
    assert r.z == 4.0 and k.z == 3.0, "_replace returns a new tuple"
    assert type(r) is Triple
    assert set(k._asdict()) == {"x", "y", "z"}
    names = [c.__name__ for c in Triple.__mro__]
    assert names == ["Triple", "StateTuple", "Triple_nm_base", "tuple", "object"]
    assert Triple.__module__ == __name__, "keeps its defining module (so it pickles)"


def test_state_tuple_pickles():
    s = Triple(torch.arange(3.0))
    q = pickle.loads(pickle.dumps(s))
    assert type(q) is Triple and torch.equal(q.x, s.x) and q.z == s.z


def test_state_tuple_is_a_pytree_node():
    s = Triple(torch.ones(2), torch.zeros(2), 0.5)
    leaves, spec = _pytree.tree_flatten(s)
    assert len(leaves) == 3
    back = _pytree.tree_unflatten(leaves, spec)
    assert type(back) is Triple and back.z == 0.5
    doubled = pytree.tree_map_only(Tensor, lambda t: 2 * t, s)
    assert type(doubled) is Triple
    assert torch.equal(doubled.x, 2 * torch.ones(2)) and doubled.z == 0.5
    assert LIFParameters in _pytree.SUPPORTED_NODES


def test_state_tuple_conversions():
    x = torch.ones(2, requires_grad=True)
    s = Triple(x, torch.tensor(3.0), 7.0)
    for converted, dtype in ((s.double(), torch.float64), (s.int(), torch.int32)):
        assert type(converted) is Triple
        assert converted.x.dtype == dtype and converted.y.dtype == dtype
        assert converted.z == 7.0
    assert s.double().float().x.dtype == torch.float32
    moved = s.to(torch.float64)
    assert moved.x.dtype == torch.float64 and moved.x.requires_grad
    assert s.cpu().x.device.type == "cpu"
    assert type(s.cpu()) is Triple
    p = LIFParameters().to(torch.float64)
    assert type(p) is LIFParameters and p.v_th.dtype == torch.float64 and p.method == "super"


def test_state_tuple_broadcast():
    template = torch.zeros(2, 3)
    s = Triple(torch.ones(2, 3), torch.tensor(5.0), 1.0)
    b = s.broadcast(template)
    assert type(b) is Triple
    assert b.x is s.x, "a tensor of the template's shape is returned unchanged"
    assert torch.equal(b.y, torch.full((2, 3), 5.0))
    assert b.z == 1.0, "python numbers are left untouched"
    with pytest.raises(ValueError, match=r"\(4,\).*\(2, 3\)"):
        Triple(torch.ones(4)).broadcast(template)
    p = LIFParameters().broadcast(template)
    assert p.v_th.shape == (2, 3) and p.method == "super"


def test_broadcast_input():
    template = torch.zeros(3)
    assert torch.equal(pytree.broadcast_input(torch.tensor([2.0]), template), torch.full((3,), 2.0))
    same = torch.ones(3)
    assert pytree.broadcast_input(same, template) is same
    with pytest.raises(ValueError, match="shape"):
        pytree.broadcast_input(torch.ones(2), template)


def test_map_only():
    double_tensors = pytree.map_only(Tensor)(lambda t: 2 * t)
    assert torch.equal(double_tensors(torch.ones(1)), torch.full((1,), 2.0))
    assert double_tensors("text") == "text"


def test_register_tuple_is_idempotent():
    pytree.register_tuple(Triple)  # already registered by the metaclass: no error
    assert Triple in _pytree.SUPPORTED_NODES


# ----------------------------------------------------------------------------- clone_tensor
def test_clone_tensor():
    x = torch.ones(3, requires_grad=True)
    y = clone_tensor(x)
    assert torch.equal(x, y) and not y.requires_grad
    assert y.data_ptr() != x.data_ptr()
    assert clone_tensor(x, device="cpu").device.type == "cpu"


@pytest.mark.parametrize("bad", [1.0, 3, [1.0, 2.0], None], ids=["float", "int", "list", "none"])
def test_clone_tensor_rejects_non_tensors(bad):
    with pytest.raises(ValueError, match="Tensor"):
        clone_tensor(bad)
