"""Streaming ride-duration prediction on AWS Kinesis and Lambda.

Where things are (dependencies point one way, down this list)::

    tools/       the `streaming` command line: send, tail, replay, evaluate, demo
    serving/     the other deployment modes: score (files), serve (HTTP)
    training/    TLC files -> fitted model -> artifact, metadata, model card
    esm/         the local Kinesis event source mapping (`streaming run`)
    monitoring/  the monitoring function: windows, drift, quality, its database
    dashboard/   `streaming dashboard`: the monitoring database as a live page
    downstream/  readers of our output streams (predictions, ride-finished events)
    batch/       (home of) the scheduled batch job
    consumer/    the prediction function's hot path: what `lambda_function` imports
    model/       the model contract, loading and the numpy predictor
    commandline/ what every command shares: one-line mistakes, plain help

``consumer`` imports only ``model``; ``model`` imports nothing else of
``streaming``. Each deployable function has its own entry module at the
repository root (``lambda_function.py``) and ships only what it imports.
"""

__version__ = "0.1.0"
