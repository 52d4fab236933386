"""The ``streaming`` command line: what a user runs around the deployed function.

``cli`` dispatches: ``send`` (``produce``: rides into the input stream),
``tail``, ``replay`` (dead letters and discarded batches), ``evaluate``,
``demo`` (the whole pipeline on an embedded emulator), and the package report.
``aws_session`` builds the tools' boto3 session and clients; ``stream_io``
reads whole streams. May import every other package; none imports it.
"""
