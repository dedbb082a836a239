"""Building blocks for spiking neural networks in PyTorch: neuron models, encoders, containers.

Example:
    >>> import torch
    >>> import norse.torch as norse
    >>> spikes, state = norse.LIF()(torch.rand(100, 8, 32))
    >>> spikes.shape
    torch.Size([100, 8, 32])
"""

import importlib.util
import logging

from . import functional, models, module, utils

# --- functional -------------------------------------------------------------------------
from .functional.adjoint.lif_adjoint import (
    LIFFeedForwardAdjointFunction,
    LIFFeedForwardSparseAdjointFunction,
    lif_feed_forward_adjoint_step,
    lif_feed_forward_adjoint_step_sparse,
)
from .functional.adjoint.lif_refrac_adjoint import (
    LIFAdjointRefracFeedForwardFunction,
    lif_refrac_feed_forward_adjoint_step,
)
from .functional.adjoint.lsnn_adjoint import (
    LSNNFeedForwardAdjointFunction,
    lsnn_feed_forward_adjoint_step,
)
from .functional.coba_lif import (
    CobaLIFFeedForwardState,
    CobaLIFParameters,
    CobaLIFState,
    coba_lif_feed_forward_step,
    coba_lif_step,
)
from .functional.correlation_sensor import (
    CorrelationSensorParameters,
    CorrelationSensorState,
    correlation_based_update,
    correlation_sensor_step,
)
from .functional.delay import (
    DelayLineState,
    axonal_delay,
    axonal_delay_step,
    delay_kernel,
    synaptic_delay,
    synaptic_delay_step,
)
from .functional.encode import (
    constant_current_lif_encode,
    euclidean_distance,
    gaussian_rbf,
    poisson_encode,
    poisson_encode_step,
    population_encode,
    signed_poisson_encode,
    signed_poisson_encode_step,
    spike_latency_encode,
    spike_latency_lif_encode,
)
from .functional.heaviside import heaviside
from .functional.iaf import (
    IAFFeedForwardState,
    IAFParameters,
    IAFState,
    iaf_feed_forward_step,
    iaf_step,
)
from .functional.izhikevich import (
    IzhikevichParameters,
    IzhikevichRecurrentState,
    IzhikevichSpikingBehavior,
    IzhikevichState,
    accomodation,
    bistability,
    class_1_exc,
    class_2_exc,
    create_izhikevich_spiking_behavior,
    dap,
    inhibition_induced_bursting,
    inhibition_induced_spiking,
    integrator,
    izhikevich_feed_forward_step,
    izhikevich_recurrent_step,
    mixed_mode,
    phasic_bursting,
    phasic_spiking,
    rebound_burst,
    rebound_spike,
    resonator,
    spike_frequency_adaptation,
    spike_latency,
    subthreshold_oscillation,
    threshold_variability,
    tonic_bursting,
    tonic_spiking,
)
from .functional.leaky_integrator import LIParameters, LIState, li_feed_forward_step, li_step
from .functional.leaky_integrator_box import (
    LIBoxParameters,
    LIBoxState,
    li_box_feed_forward_step,
    li_box_step,
)
from .functional.lif import (
    LIFFeedForwardState,
    LIFParameters,
    LIFState,
    lif_current_encoder,
    lif_feed_forward_step,
    lif_step,
)
from .functional.lif_adex import (
    LIFAdExFeedForwardState,
    LIFAdExParameters,
    LIFAdExState,
    lif_adex_current_encoder,
    lif_adex_feed_forward_step,
    lif_adex_step,
)
from .functional.lif_box import (
    LIFBoxFeedForwardState,
    LIFBoxParameters,
    LIFBoxState,
    lif_box_feed_forward_step,
)
from .functional.lif_correlation import (
    LIFCorrelationParameters,
    LIFCorrelationState,
    lif_correlation_step,
)
from .functional.lif_ex import (
    LIFExFeedForwardState,
    LIFExParameters,
    LIFExState,
    lif_ex_current_encoder,
    lif_ex_feed_forward_step,
    lif_ex_step,
)
from .functional.lif_mc import lif_mc_feed_forward_step, lif_mc_step
from .functional.lif_mc_refrac import lif_mc_refrac_feed_forward_step, lif_mc_refrac_step
from .functional.lif_refrac import (
    LIFRefracFeedForwardState,
    LIFRefracParameters,
    LIFRefracState,
    lif_refrac_feed_forward_step,
    lif_refrac_step,
)
from .functional.lift import lift
from .functional.logical import logical_and, logical_or, logical_xor
from .functional.loss import (
    accuracy_first_spike,
    accuracy_max_membrane,
    accuracy_rate,
    ce_count_loss,
    ce_last_membrane_loss,
    ce_max_membrane_loss,
    ce_population_count_loss,
    ce_temporal_loss,
    first_spike_times,
    mse_count_loss,
    mse_population_count_loss,
    population_decode,
)
from .functional.lsnn import (
    LSNNFeedForwardState,
    LSNNParameters,
    LSNNState,
    lsnn_feed_forward_step,
    lsnn_step,
)
from .functional.receptive_field import (
    gaussian_kernel,
    spatial_receptive_field,
    spatial_receptive_fields_with_derivatives,
)
from .functional.regularization import regularize_step, spike_accumulator, voltage_accumulator
from .functional.reset import ResetMethod, reset_subtract, reset_value
from .functional.spike_linear import spike_linear
from .functional.stdp_sensor import STDPSensorParameters, STDPSensorState, stdp_sensor_step
from .functional.superspike import super_fn
from .functional.threshold import (
    circ_dist_fn,
    heavi_circ_fn,
    heavi_erfc_fn,
    heavi_tanh_fn,
    logistic_fn,
    threshold,
    triangle_fn,
)
from .functional.tsodyks_makram import TsodyksMakramParameters, TsodyksMakramState, stp_step

# --- models -----------------------------------------------------------------------------
from .models.conv import ConvNet, ConvNet4
from .models.mobilenet import MobileNetV2, mobilenet_v2
from .models.vgg import (
    VGG,
    vgg11,
    vgg11_bn,
    vgg13,
    vgg13_bn,
    vgg16,
    vgg16_bn,
    vgg19,
    vgg19_bn,
)

# --- modules ----------------------------------------------------------------------------
from .module.coba_lif import CobaLIF, CobaLIFCell
from .module.conv import LConv2d
from .module.delay import AxonalDelay, AxonalDelayCell, SynapticDelay, SynapticDelayCell
from .module.encode import (
    ConstantCurrentLIFEncoder,
    PoissonEncoder,
    PoissonEncoderStep,
    PopulationEncoder,
    SignedPoissonEncoder,
    SignedPoissonEncoderStep,
    SpikeLatencyEncoder,
    SpikeLatencyLIFEncoder,
)
from .module.iaf import IAF, IAFCell
from .module.izhikevich import (
    Izhikevich,
    IzhikevichCell,
    IzhikevichRecurrent,
    IzhikevichRecurrentCell,
)
from .module.leaky_integrator import LI, LICell, LILinearCell
from .module.leaky_integrator_box import LIBox, LIBoxCell
from .module.lif import LIF, LIFCell, LIFRecurrent, LIFRecurrentCell
from .module.lif_adex import LIFAdEx, LIFAdExCell, LIFAdExRecurrent, LIFAdExRecurrentCell
from .module.lif_adex_refrac import (
    LIFAdExRefrac,
    LIFAdExRefracCell,
    LIFAdExRefracFeedForwardState,
    LIFAdExRefracParameters,
    LIFAdExRefracRecurrent,
    LIFAdExRefracRecurrentCell,
    LIFAdExRefracState,
)
from .module.lif_box import LIFBox, LIFBoxCell
from .module.lif_correlation import LIFCorrelation
from .module.lif_ex import LIFEx, LIFExCell, LIFExRecurrent, LIFExRecurrentCell
from .module.lif_mc import LIFMCRecurrentCell
from .module.lif_mc_refrac import LIFMCRefracRecurrentCell
from .module.lif_refrac import LIFRefrac, LIFRefracCell, LIFRefracRecurrent, LIFRefracRecurrentCell
from .module.lift import Lift
from .module.loss import (
    CECountLoss,
    CELastMembraneLoss,
    CEMaxMembraneLoss,
    CEPopulationCountLoss,
    CETemporalLoss,
    FirstSpikeTimes,
    MSECountLoss,
    MSEPopulationCountLoss,
    PopulationDecode,
)
from .module.lsnn import LSNN, LSNNCell, LSNNRecurrent, LSNNRecurrentCell
from .module.receptive_field import (
    ParameterizedSpatialReceptiveField2d,
    SampledSpatialReceptiveField2d,
    SpatialReceptiveField2d,
    TemporalReceptiveField,
)
from .module.regularization import RegularizationCell
from .module.sequential import RecurrentSequential, RecurrentSequentialState, SequentialState
from .module.spike_linear import SpikeLinear
from .module.spikes_to_times_decoder import SpikesToTimesDecoder

# --- NIR interchange ------------------------------------------------------------------
from .utils.export_nir import to_nir
from .utils.import_nir import from_nir
from .utils.synops import SynOps, SynOpsCounter, count_synops

HAS_TENSORBOARD = importlib.util.find_spec("tensorboard") is not None
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None

# Optional extras: exported only when their package is installed (imported lazily by them).
if HAS_TENSORBOARD:
    from .utils.tensorboard import (
        hook_spike_activity_mean,
        hook_spike_activity_sum,
        hook_spike_histogram_mean,
        hook_spike_histogram_sum,
        hook_spike_image,
    )
else:
    logging.getLogger(__name__).debug("tensorboard not installed: tensorboard hooks not exported")
if HAS_MATPLOTLIB:
    from .utils.plot import (
        plot_heatmap_2d,
        plot_heatmap_3d,
        plot_histogram_2d,
        plot_izhikevich,
        plot_membrane_traces,
        plot_neuron_states,
        plot_scatter_3d,
        plot_spike_raster,
        plot_spikes_2d,
    )
else:
    logging.getLogger(__name__).debug("matplotlib not installed: plot functions not exported")

__all__ = [
    name for name in dir() if not name.startswith("_") and name not in ("importlib", "logging")
]
