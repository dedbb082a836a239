"""Recognise spoken keywords (Speech Commands) with recurrent spiking networks.

:mod:`norse.task.speech_commands.model` holds the networks (LIF, LSNN or LSTM layers with a
leaky-integrator readout); :mod:`norse.task.speech_commands.run` trains them on MFCC features
of Google's Speech Commands (read without torchaudio) or, with ``--synthetic``, on generated
features::

    python -m norse.task.speech_commands.run --synthetic --device cpu --epochs 1
"""
