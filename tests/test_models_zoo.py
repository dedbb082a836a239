"""The model zoo: documented output shapes, forward + backward, and offline pretrained loading."""

import pytest
import torch

from norse.torch.models.conv import ConvNet, ConvNet4
from norse.torch.models.mobilenet import MobileNetV2, _make_divisible, mobilenet_v2
from norse.torch.models.vgg import cfgs, make_layers, vgg11


@pytest.mark.parametrize("cls", [ConvNet, ConvNet4])
def test_convnets_shape_dtype_and_backward(cls):
    net = cls(dtype=torch.float64)
    x = torch.rand(3, 2, 1, 28, 28) * 2
    out = net(x)
    assert out.shape == (3, 2, 10)
    assert out.dtype == torch.float64
    out.sum().backward()
    assert net.fc1.weight.grad is not None and torch.isfinite(net.fc1.weight.grad).all()


def test_convnet_other_channels_and_feature_size():
    net = ConvNet(num_channels=2, feature_size=34)
    assert net.features == 5
    assert net(torch.rand(2, 1, 2, 34, 34)).shape == (2, 1, 10)


def test_convnet_errors():
    with pytest.raises(ValueError, match="feature_size"):
        ConvNet(feature_size=8)
    with pytest.raises(ValueError, match=r"\(T, B, 1, H, W\)"):
        ConvNet()(torch.rand(1, 28, 28))


def test_convnet4_thresholds():
    net = ConvNet4()
    assert float(net.lif0.p.v_th) == pytest.approx(0.7)
    assert float(net.lif2.p.v_th) == pytest.approx(1.0)


def test_make_layers_counts():
    layers = make_layers(cfgs["A"], batch_norm=True)
    convs = [m for m in layers.modules() if isinstance(m, torch.nn.Conv2d)]
    norms = [m for m in layers.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(convs) == 8 and len(norms) == 8
    assert [len([v for v in cfgs[k] if v != "M"]) for k in "ABDE"] == [8, 10, 13, 16]
    with pytest.raises(ValueError, match="cfg"):
        make_layers([0])


def test_vgg11_forward_backward():
    net = vgg11(num_classes=7)
    out = net(torch.rand(2, 1, 3, 32, 32))
    assert out.shape == (2, 1, 7)
    out.sum().backward()
    first_conv = net.features[0].lifted_module
    assert first_conv.weight.grad is not None


def test_mobilenet_forward_backward():
    net = MobileNetV2(num_classes=5, width_mult=0.5)
    out = net(torch.rand(2, 2, 3, 32, 32))
    assert out.shape == (2, 2, 5)
    out.sum().backward()
    assert net.classifier[1].lifted_module.weight.grad is not None


def test_mobilenet_setting_validation():
    with pytest.raises(ValueError, match="inverted_residual_setting"):
        MobileNetV2(inverted_residual_setting=[[1, 16, 1]])
    assert _make_divisible(30, 8) == 32 and _make_divisible(10, 8) == 16


def test_pretrained_true_without_cache_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="local path"):
        mobilenet_v2(pretrained=True)


def test_pretrained_from_local_torchvision_layout_file(tmp_path):
    source = mobilenet_v2(num_classes=4)
    # torchvision's layout: the same keys without the ``lifted_module`` level
    plain = {k.replace(".lifted_module", ""): v for k, v in source.state_dict().items()}
    path = tmp_path / "weights.pth"
    torch.save(plain, path)
    loaded = mobilenet_v2(pretrained=str(path), num_classes=4)
    for (k, a), b in zip(source.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
