"""Home of the monitoring function (issue 15): a second Lambda function that reads
the predictions, shadow, dead-letter and ride-finished streams in tumbling
windows and writes drift and quality figures to a database.

It gets its own entry module beside ``lambda_function.py`` and its own zip:
this package plus what it imports (``streaming.consumer`` for the event shapes,
``streaming.model`` for the reference distribution), nothing from ``tools``.
"""
