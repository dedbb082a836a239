"""The code blocks of the seed document "Norse - Spiking Neural Networks for PyTorch" run.

Each test is the block as written (imports included), followed by checks. The NIR block is
covered by the NIR tests.
"""

from __future__ import annotations

import pytest


def test_quick_start():
    import torch

    import norse.torch as snn

    # Simple spiking neural network
    model = snn.SequentialState(
        snn.Lift(torch.nn.Conv2d(1, 20, 5, 1)),  # Conv layer
        snn.LIFCell(),  # LIF spiking layer
        torch.nn.MaxPool2d(2, 2),
        snn.LIFCell(),
        torch.nn.Flatten(),
        snn.LICell(),  # Non-spiking integrator
    )

    # Run the network
    data = torch.randn(8, 1, 28, 28)  # Batch of 8, 1 channel, 28x28
    output, state = model(data)

    # Lift treats the first dimension as time, the cells as batch: 20 * 12 * 12 = 2880
    assert output.shape == (8, 2880)
    assert len(state) == 6 and model.stateful_layers == [False, True, False, True, False, True]


def test_state_management():
    import torch

    from norse.torch import LIFFeedForwardState, LIFParameters, LIFState

    # Recurrent state (with spikes)
    state = LIFState(z=torch.zeros(8, 100), v=torch.zeros(8, 100), i=torch.zeros(8, 100))

    # Feed-forward state (no recurrent spikes)
    ff_state = LIFFeedForwardState(v=torch.zeros(8, 100), i=torch.zeros(8, 100))

    # Custom parameters
    p = LIFParameters(tau_mem_inv=1 / 10e-3, v_th=1.0)

    assert state._fields == ("z", "v", "i") and ff_state._fields == ("v", "i")
    from norse.torch import LIFCell

    z, s = LIFCell(p)(torch.ones(8, 100), ff_state)
    assert z.shape == (8, 100) and s.v.shape == (8, 100)


def test_bio_default():
    from norse.torch import LIFParameters

    # Default technical parameters
    p = LIFParameters()

    # Biologically realistic parameters
    p_bio = LIFParameters.bio_default()

    # millivolts and milliseconds: rest and reset below threshold, all negative
    assert float(p_bio.v_leak) < float(p_bio.v_th) < 0
    assert float(p_bio.v_reset) < float(p_bio.v_th)
    assert float(p_bio.tau_mem_inv) < 1 < float(p.tau_mem_inv)


def test_surrogate_gradient_methods():
    import torch

    from norse.torch import LIFCell, LIFParameters

    p = LIFParameters(method="super")  # SuperSpike (default)
    p = LIFParameters(method="adjoint")  # Adjoint method
    p = LIFParameters(method="heaviside")  # Straight-through estimator

    assert p.method == "heaviside"
    z, _ = LIFCell(p)(torch.tensor([0.0, 50.0]))
    assert torch.equal(z, torch.tensor([0.0, 1.0]))


def test_time_dimension():
    import torch

    import norse.torch as snn

    layer = snn.LIF()  # the seed leaves ``layer`` undefined; any sequence layer fits

    # Input: (timesteps, batch, features)
    data = torch.zeros(10, 8, 100)  # 10 timesteps, batch of 8, 100 features

    # Output: (timesteps, batch, features)
    output, state = layer(data)

    assert output.shape == (10, 8, 100)


def test_basic_mnist_classifier():
    import torch
    import torch.nn as nn

    import norse.torch as snn

    model = snn.SequentialState(
        nn.Conv2d(1, 20, 5, 1),
        snn.LIFCell(),
        nn.MaxPool2d(2, 2),
        nn.Conv2d(20, 50, 5, 1),
        snn.LIFCell(),
        nn.MaxPool2d(2, 2),
        nn.Flatten(),
        nn.Linear(800, 10),
        snn.LICell(),
    )

    data = torch.randn(8, 1, 28, 28)
    output, state = model(data)

    assert output.shape == (8, 10)
    assert len(state) == len(model)


def test_encoding_pipeline():
    import torch

    import norse.torch as snn

    # Encode input with Poisson encoding
    encoder = snn.PoissonEncoder()
    data = torch.rand(8, 1, 28, 28)  # Input values in [0, 1]
    spikes = encoder(data, seq_length=10)  # (10, 8, 1, 28, 28)

    assert spikes.shape == (10, 8, 1, 28, 28)
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}

    # Process with SNN: ``snn.LIF(10)`` has no meaning (feed-forward layers take their size
    # from the input); the error says what to write instead
    with pytest.raises(TypeError, match=r"LIF\(\)") as info:
        layer = snn.LIF(10)
    assert "LIFRecurrent(input_size, hidden_size)" in str(info.value)
    layer = snn.LIF()
    output, state = layer(spikes)
    assert output.shape == (10, 8, 1, 28, 28)


def test_lifcell_with_sizes_explains_the_fix():
    from norse.torch import LIFCell

    with pytest.raises(TypeError, match=r"LIFCell\(\)") as info:
        LIFCell(2, 4)
    message = str(info.value)
    assert "from the input" in message and "LIFRecurrentCell(input_size, hidden_size)" in message
