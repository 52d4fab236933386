"""The monitoring function (issue 15): a second Lambda function, entry
``monitoring_function.lambda_handler``, that reads the predictions, shadow,
dead-letter and ride-finished streams in tumbling windows and writes drift and
quality figures to a database.

    service.py       one windowed invocation: records -> state; the final one writes
    records.py       what a record is (prediction, dead letter, finished ride, skipped)
    window_state.py  a shard's window state: bounded counts, plain JSON
    drift.py         mergeable histograms, PSI and KS (pure)
    reference.py     the training reference kept in the model's metadata
    store.py         idempotent writes, the predictions/actuals join (tables and
                     migrations: ``streaming.database``)
    read.py          windows merged across shards, RMSE/MAE per window
    emf.py           CloudWatch embedded-metric lines for the alarms
    settings.py      environment, checked at init
    build.py         the init: settings, database, references

It ships this package plus what it imports (``consumer`` for event shapes,
``downstream`` for the readers, ``model`` for metadata, ``database`` for its
tables), nothing from ``tools``.
"""
