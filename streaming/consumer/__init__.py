"""The prediction function's hot path: everything ``import lambda_function`` loads.

One batch, one module per step::

    Records[] --decode--> Ride | Rejection(reason)     (validate: every value bounded;
                                                         kpl: aggregates unpacked)
    Ride[]    --features--> float64 matrix
    matrix    --predict (model's tree tables)--> minutes[]
    minutes   --publish (PutRecords, bounded_call)--> predictions stream
    Rejection --deadletter + publish--> dead-letter stream
    unwritten sequence numbers --> {"batchItemFailures": [...]}

``handler`` ties the steps together with the model, the settings (``config``)
and the Kinesis port (``publish.Sender``) injected; ``observability`` turns a
batch's result into logs and metrics. Decode, validate, features and predict
are pure; AWS is reached only through the sender (and, for a model on S3,
``model.fetch`` at init). Imports only ``streaming.model`` besides itself.
"""
