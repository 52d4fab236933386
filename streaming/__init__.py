"""Streaming ride-duration prediction on AWS Kinesis and Lambda.

The data path of one batch, one module per step::

    Records[] --events.decode_records--> Ride | Rejection  (KPL aggregates unpacked)
    Ride[]    --features.feature_matrix--> float64 matrix
    matrix    --model (numpy tree tables)--> minutes[]
    minutes   --publish.put_records--> predictions stream
    Rejection --deadletter + publish--> dead-letter stream
    unpublished sequence numbers --> {"batchItemFailures": [...]}

Only ``handler`` and ``publish`` touch AWS; everything else is pure.
"""

__version__ = "0.1.0"
