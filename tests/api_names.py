"""Every public name of Norse 1.1.0 per module path (API.md §1-§4, §7, Appendix A), plus the
supersets this project adds on purpose (API.md §9.1, DECISIONS.md).

Data only: ``tests/test_api_names.py`` imports each module path and diffs its attributes
against these sets. Names may be extra in our modules (harmless supersets), never missing.
"""

from __future__ import annotations

import importlib.util


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


# ----------------------------------------------------------------------------- functional (§2)
IZHIKEVICH_PRESETS = _names(
    """tonic_spiking tonic_bursting phasic_spiking phasic_bursting mixed_mode
    spike_frequency_adaptation class_1_exc class_2_exc spike_latency subthreshold_oscillation
    resonator integrator rebound_spike rebound_burst threshold_variability bistability dap
    accomodation inhibition_induced_spiking inhibition_induced_bursting"""
)

FUNCTIONAL: dict[str, frozenset[str]] = {
    "coba_lif": _names(
        """CobaLIFState CobaLIFFeedForwardState CobaLIFParameters default_bio_state
        default_bio_parameters coba_lif_step coba_lif_feed_forward_step"""
    ),
    "correlation_sensor": _names(
        """CorrelationSensorParameters CorrelationSensorState pre_mask post_mask
        post_pre_update correlation_sensor_step correlation_based_update"""
    ),
    "decode": _names("sum_decode"),
    "encode": _names(
        """constant_current_lif_encode gaussian_rbf euclidean_distance population_encode
        poisson_encode poisson_encode_step signed_poisson_encode signed_poisson_encode_step
        spike_latency_lif_encode spike_latency_encode"""
    ),
    "filter": _names("exp_filter_step"),
    "heaviside": _names("heaviside"),
    "iaf": _names("IAFParameters IAFState IAFFeedForwardState iaf_step iaf_feed_forward_step"),
    "izhikevich": _names(
        """IzhikevichParameters IzhikevichSpikingBehavior IzhikevichState
        IzhikevichRecurrentState create_izhikevich_spiking_behavior
        izhikevich_feed_forward_step izhikevich_recurrent_step"""
    )
    | IZHIKEVICH_PRESETS
    | frozenset(f"{name}_p" for name in IZHIKEVICH_PRESETS),
    "leaky_integrator": _names("LIParameters LIState li_step li_feed_forward_step"),
    "leaky_integrator_box": _names(
        "LIBoxParameters LIBoxState li_box_step li_box_feed_forward_step"
    ),
    "lif": _names(
        """LIFParameters LIFState LIFFeedForwardState default_bio_parameters
        default_bio_initial_state lif_step lif_feed_forward_step lif_step_sparse
        lif_feed_forward_step_sparse lif_feed_forward_integral lif_step_integral
        lif_current_encoder"""
    ),
    "lif_adex": _names(
        """LIFAdExParameters LIFAdExState LIFAdExFeedForwardState lif_adex_step
        lif_adex_feed_forward_step lif_adex_current_encoder"""
    ),
    # ``compute_refractore_update`` (sic) is the name of two @overload stubs in 1.1.0.
    "lif_adex_refrac": _names(
        """LIFAdExRefracParameters LIFAdExRefracState LIFAdExRefracFeedForwardState
        compute_refractory_update compute_refractore_update lif_adex_refrac_step
        lif_adex_refrac_feed_forward_step"""
    ),
    "lif_box": _names(
        "LIFBoxParameters LIFBoxState LIFBoxFeedForwardState lif_box_feed_forward_step"
    ),
    "lif_correlation": _names("LIFCorrelationParameters LIFCorrelationState lif_correlation_step"),
    "lif_ex": _names(
        """LIFExParameters LIFExState LIFExFeedForwardState lif_ex_step
        lif_ex_feed_forward_step lif_ex_current_encoder"""
    ),
    "lif_mc": _names("lif_mc_step lif_mc_feed_forward_step"),
    "lif_mc_refrac": _names("lif_mc_refrac_step lif_mc_refrac_feed_forward_step"),
    "lif_refrac": _names(
        """LIFRefracParameters LIFRefracState LIFRefracFeedForwardState
        compute_refractory_update lif_refrac_step lif_refrac_feed_forward_step
        lif_refrac_step_sparse"""
    ),
    "lift": _names("lift"),
    "logical": _names("logical_and logical_or logical_xor muller_c posedge_detector"),
    "lsnn": _names(
        """LSNNParameters LSNNState LSNNFeedForwardState lsnn_step lsnn_feed_forward_step
        ada_lif_step"""
    ),
    "receptive_field": _names(
        """gaussian_kernel covariance_matrix derive_kernel calculate_normalization
        derive_spatial_receptive_field_single derive_spatial_receptive_field
        spatial_receptive_field spatial_parameters spatial_receptive_fields_with_derivatives
        temporal_scale_distribution spatio_temporal_parameters"""
    ),
    "regularization": _names("Accumulator spike_accumulator voltage_accumulator regularize_step"),
    "reset": _names("ResetMethod reset_value reset_subtract"),
    "spikes_to_times_decoder": _names("ToSpikeTimes"),
    "stdp": _names("STDPState STDPParameters stdp_step_linear stdp_step_conv2d"),
    "stdp_sensor": _names("STDPSensorParameters STDPSensorState stdp_sensor_step"),
    "superspike": _names("SuperSpike super_fn"),
    "threshold": _names(
        """HeaviErfc HeaviTanh Logistic HeaviCirc CircDist Triangle heavi_erfc_fn
        heavi_tanh_fn logistic_fn heavi_circ_fn circ_dist_fn triangle_fn threshold sign
        superspike_fn"""
    ),
    "tsodyks_makram": _names("TsodyksMakramParameters TsodyksMakramState stp_step"),
}

# §2.32; ``coba_lif_adjoint`` fails to import in 1.1.0, a bug this project fixes (§10 F).
ADJOINT: dict[str, frozenset[str]] = {
    "lif_adjoint": _names(
        """LIFAdjointFunction lif_adjoint_step LIFSparseAdjointFunction
        lif_adjoint_step_sparse LIFFeedForwardAdjointFunction lif_feed_forward_adjoint_step
        LIFFeedForwardSparseAdjointFunction lif_feed_forward_adjoint_step_sparse"""
    ),
    "lif_refrac_adjoint": _names(
        """LIFAdjointRefracFunction lif_refrac_adjoint_step LIFSparseAdjointRefracFunction
        lif_refrac_adjoint_step_sparse LIFAdjointRefracFeedForwardFunction
        lif_refrac_feed_forward_adjoint_step"""
    ),
    "lsnn_adjoint": _names(
        """LSNNAdjointFunction lsnn_adjoint_step LSNNFeedForwardAdjointFunction
        lsnn_feed_forward_adjoint_step"""
    ),
    "lif_mc_adjoint": _names("LIFMCAdjointFunction lif_mc_adjoint_step"),
    "lif_mc_refrac_adjoint": _names("LIFMCRefracAdjointFunction lif_mc_refrac_adjoint"),
    "coba_lif_adjoint": _names("CobaLIFAdjointFunction coba_lif_adjoint_step"),
}

# ----------------------------------------------------------------------------- module (§3)
# Includes the parameter/state classes 1.1.0 re-imports into module files (§3.10, §3.14,
# §3.16, §8) and the supersets of §9.1 / DECISIONS.md (marked).
MODULE: dict[str, frozenset[str]] = {
    "coba_lif": _names("CobaLIFCell CobaLIFParameters CobaLIFState")
    | _names("CobaLIF"),  # superset
    "conv": _names("LConv2d"),
    "encode": _names(
        """ConstantCurrentLIFEncoder PoissonEncoder PoissonEncoderStep PopulationEncoder
        SignedPoissonEncoder SignedPoissonEncoderStep SpikeLatencyLIFEncoder
        SpikeLatencyEncoder"""
    ),
    "exp_filter": _names("ExpFilter"),
    "iaf": _names("IAF IAFCell"),
    "izhikevich": _names(
        """Izhikevich IzhikevichCell IzhikevichRecurrent IzhikevichRecurrentCell
        IzhikevichState IzhikevichRecurrentState IzhikevichSpikingBehavior"""
    )
    | _names("IzhikevichParameters"),  # superset (§9.1)
    "leaky_integrator": _names("LI LICell LILinearCell LIState LIParameters"),
    "leaky_integrator_box": _names("LIBoxCell") | _names("LIBox"),  # superset
    "lif": _names("LIF LIFCell LIFRecurrent LIFRecurrentCell LIFParameters LIFState"),
    "lif_adex": _names("LIFAdEx LIFAdExCell LIFAdExRecurrent LIFAdExRecurrentCell"),
    "lif_adex_refrac": _names(
        """LIFAdExRefracCell LIFAdExRefracRecurrentCell LIFAdExRefracRecurrent
        LIFAdExRefracParameters LIFAdExRefracState LIFAdExRefracFeedForwardState"""
    )
    | _names("LIFAdExRefrac"),  # superset
    "lif_box": _names("LIFBoxCell") | _names("LIFBox"),  # superset
    "lif_correlation": _names("LIFCorrelation"),
    "lif_ex": _names("LIFEx LIFExCell LIFExRecurrent LIFExRecurrentCell"),
    "lif_mc": _names("LIFMCRecurrentCell"),
    "lif_mc_refrac": _names("LIFMCRefracRecurrentCell"),
    "lif_refrac": _names("LIFRefracCell LIFRefracRecurrentCell LIFRefracRecurrent")
    | _names("LIFRefrac"),  # superset
    "lift": _names("Lift"),
    "lsnn": _names("LSNN LSNNCell LSNNRecurrent LSNNRecurrentCell"),
    "receptive_field": _names(
        """SpatialReceptiveField2d SampledSpatialReceptiveField2d
        ParameterizedSpatialReceptiveField2d TemporalReceptiveField"""
    ),
    "regularization": _names("RegularizationCell"),
    "sequential": _names("SequentialState RecurrentSequential RecurrentSequentialState"),
    "snn": _names(
        "FeedforwardActivation RecurrentActivation SNN SNNCell SNNRecurrent SNNRecurrentCell"
    ),
    "spikes_to_times_decoder": _names("SpikesToTimesDecoder"),
    "spike_linear": _names("SpikeLinear"),  # superset (spike-sparse synapses)
    "delay": _names(  # superset (synaptic delays, issue 18)
        "AxonalDelay AxonalDelayCell SynapticDelay SynapticDelayCell DelayLineState"
    ),
}

#: Functional modules this project adds (not in 1.1.0, so outside the Appendix A counts).
FUNCTIONAL_SUPERSET: dict[str, frozenset[str]] = {
    "delay": _names(
        """DelayLineState axonal_delay axonal_delay_step delay_kernel synaptic_delay
        synaptic_delay_step"""
    ),
}

# ----------------------------------------------------------------------------- models (§4)
VGG_BUILDERS = _names("vgg11 vgg11_bn vgg13 vgg13_bn vgg16 vgg16_bn vgg19 vgg19_bn")
MODELS: dict[str, frozenset[str]] = {
    "conv": _names("ConvNet ConvNet4"),
    "vgg": _names("VGG make_layers cfgs model_urls") | VGG_BUILDERS,
    "mobilenet": _names("ConvBNReLU InvertedResidual MobileNetV2 mobilenet_v2 model_urls"),
}

# ----------------------------------------------------------------------------- utils (§7)
PLOT = _names(
    """plot_heatmap_2d plot_heatmap_3d plot_histogram_2d plot_neuron_states plot_scatter_3d
    plot_spikes_2d plot_izhikevich"""
)
TENSORBOARD = _names(
    """hook_spike_activity_mean hook_spike_activity_sum hook_spike_histogram_mean
    hook_spike_histogram_sum hook_spike_image"""
)
UTILS: dict[str, frozenset[str]] = {
    "": _names("to_nir from_nir"),  # superset (§9.1): the package itself
    "clone": _names("clone_tensor"),
    "pytree": _names(
        """map_only tree_map_only register_tuple MultipleInheritanceNamedTupleMeta
        StateTuple broadcast_input"""
    ),
    # private, but Lift and SequentialState (and user code copied from 1.1.0) use it
    "state": _names("_is_module_stateful"),
    "export_nir": _names("to_nir"),
    "synops": _names("SynOps SynOpsCounter count_synops"),  # superset (issue 18)
    "import_nir": _names("CubaLIF from_nir"),
    "plot.plot": PLOT,
    "tensorboard.tensorboard": TENSORBOARD,
}

# ----------------------------------------------------------------------------- top level (§1)
TOP_LEVEL_1_1_0 = (
    _names(
        # functional.adjoint
        """lif_feed_forward_adjoint_step_sparse lif_feed_forward_adjoint_step
        LIFFeedForwardAdjointFunction LIFFeedForwardSparseAdjointFunction
        lif_refrac_feed_forward_adjoint_step LIFAdjointRefracFeedForwardFunction
        lsnn_feed_forward_adjoint_step LSNNFeedForwardAdjointFunction"""
        # functional
        """ CobaLIFState CobaLIFParameters CobaLIFFeedForwardState coba_lif_feed_forward_step
        coba_lif_step
        CorrelationSensorParameters CorrelationSensorState correlation_based_update
        correlation_sensor_step
        constant_current_lif_encode euclidean_distance gaussian_rbf poisson_encode
        poisson_encode_step population_encode signed_poisson_encode signed_poisson_encode_step
        spike_latency_encode spike_latency_lif_encode
        heaviside
        IAFFeedForwardState IAFParameters IAFState iaf_step iaf_feed_forward_step
        LIParameters LIState li_feed_forward_step li_step
        LIBoxParameters LIBoxState li_box_feed_forward_step li_box_step
        LIFFeedForwardState LIFParameters LIFState lif_current_encoder lif_feed_forward_step
        lif_step
        LIFAdExFeedForwardState LIFAdExParameters LIFAdExState lif_adex_current_encoder
        lif_adex_feed_forward_step lif_adex_step
        LIFBoxParameters LIFBoxState LIFBoxFeedForwardState lif_box_feed_forward_step
        LIFCorrelationParameters LIFCorrelationState lif_correlation_step
        LIFExFeedForwardState LIFExParameters LIFExState lif_ex_current_encoder
        lif_ex_feed_forward_step lif_ex_step
        lif_mc_feed_forward_step lif_mc_step
        lif_mc_refrac_feed_forward_step lif_mc_refrac_step
        LIFRefracFeedForwardState LIFRefracParameters LIFRefracState
        lif_refrac_feed_forward_step lif_refrac_step
        lift
        logical_and logical_or logical_xor
        LSNNFeedForwardState LSNNParameters LSNNState lsnn_feed_forward_step lsnn_step
        regularize_step spike_accumulator voltage_accumulator
        STDPSensorParameters STDPSensorState stdp_sensor_step
        circ_dist_fn heavi_circ_fn heavi_erfc_fn heavi_tanh_fn triangle_fn logistic_fn
        IzhikevichParameters IzhikevichSpikingBehavior IzhikevichState IzhikevichRecurrentState
        create_izhikevich_spiking_behavior izhikevich_feed_forward_step
        izhikevich_recurrent_step
        gaussian_kernel spatial_receptive_field spatial_receptive_fields_with_derivatives
        ResetMethod reset_value reset_subtract
        super_fn
        TsodyksMakramParameters TsodyksMakramState stp_step"""
        # models
        """ ConvNet ConvNet4 VGG MobileNetV2 mobilenet_v2"""
        # module
        """ LIFAdExRefracParameters LIFAdExRefracCell LIFAdExRefracRecurrentCell
        LIFAdExRefracRecurrent LIFAdExRefracFeedForwardState LIFAdExRefracState
        CobaLIFCell LConv2d
        ConstantCurrentLIFEncoder PoissonEncoder PopulationEncoder SignedPoissonEncoder
        SpikeLatencyEncoder SpikeLatencyLIFEncoder
        IAF IAFCell LI LICell LILinearCell LIBoxCell
        LIFCell LIFRecurrentCell LIF LIFRecurrent
        LIFAdExCell LIFAdExRecurrentCell LIFAdEx LIFAdExRecurrent
        LIFBoxCell LIFCorrelation
        LIFExCell LIFExRecurrentCell LIFEx LIFExRecurrent
        LIFMCRecurrentCell LIFMCRefracRecurrentCell
        LIFRefracCell LIFRefracRecurrentCell LIFRefracRecurrent
        Lift LSNNCell LSNNRecurrentCell LSNN LSNNRecurrent RegularizationCell
        SequentialState RecurrentSequential RecurrentSequentialState
        IzhikevichCell IzhikevichRecurrentCell Izhikevich IzhikevichRecurrent
        ParameterizedSpatialReceptiveField2d SampledSpatialReceptiveField2d
        SpatialReceptiveField2d TemporalReceptiveField
        SpikesToTimesDecoder"""
        # utils
        """ from_nir to_nir"""
    )
    | IZHIKEVICH_PRESETS
    | VGG_BUILDERS
)

#: Names the project adds at top level on purpose (§8, §9.1, DECISIONS.md).
TOP_LEVEL_SUPERSET = _names(
    """PoissonEncoderStep SignedPoissonEncoderStep threshold LIFBox LIBox LIFRefrac
    LIFAdExRefrac CobaLIF SpikeLinear spike_linear"""
)
TOP_LEVEL_SUPERSET |= _names(  # synaptic delays and SynOps (issue 18)
    """AxonalDelay AxonalDelayCell SynapticDelay SynapticDelayCell DelayLineState
    axonal_delay axonal_delay_step delay_kernel synaptic_delay synaptic_delay_step
    SynOps SynOpsCounter count_synops"""
)

#: Attributes of ``norse.torch`` that are not in its ``__all__`` (1.1.0: 223 - 217).
TOP_LEVEL_ATTRIBUTES = _names("HAS_TENSORBOARD HAS_MATPLOTLIB functional models module utils")

#: Re-exported at top level (and listed in ``__all__``) only when the extra is installed.
TOP_LEVEL_OPTIONAL = {"tensorboard": TENSORBOARD, "matplotlib": PLOT}


def top_level_all() -> frozenset[str]:
    """The names ``norse.torch.__all__`` must contain in this environment."""
    names = TOP_LEVEL_1_1_0 | TOP_LEVEL_SUPERSET
    for package, extra in TOP_LEVEL_OPTIONAL.items():
        if importlib.util.find_spec(package) is not None:
            names |= extra
    return names


def expected_modules() -> dict[str, frozenset[str]]:
    """Module path -> the names it must have as attributes."""
    table: dict[str, frozenset[str]] = {
        "norse": _names("benchmark dataset task torch utils"),
        "norse.torch": top_level_all() | TOP_LEVEL_ATTRIBUTES,
    }
    for prefix, group in (
        ("norse.torch.functional", FUNCTIONAL),
        ("norse.torch.functional", FUNCTIONAL_SUPERSET),
        ("norse.torch.functional.adjoint", ADJOINT),
        ("norse.torch.module", MODULE),
        ("norse.torch.models", MODELS),
        ("norse.torch.utils", UTILS),
    ):
        for name, names in group.items():
            table[f"{prefix}.{name}" if name else prefix] = names
    return table


# The Appendix A counts of 1.1.0, as a check on this table (supersets excluded).
APPENDIX_COUNTS = {"functional": 194, "functional.adjoint": 24, "models": 19, "top level": 217}
