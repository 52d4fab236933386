"""The model's other two deployment modes, on the stream's own validation and features.

``score``: batch scoring of a whole file (TLC parquet or JSON lines, local or
S3). ``serve``: the web service (``POST /predict``) on gunicorn. Both answer a
ride exactly as the stream does. Imports ``streaming.consumer`` and
``streaming.model``, never ``tools``.

    score.py          the scoring run and ``streaming score``'s command line
    score_inputs.py   the input's format (from its content) and its rows
    tlc_columns.py    a TLC parquet file -> rows, column by column, no value can raise
    tlc_times.py      its date-time columns (any unit, time zone or range)
    json_lines.py     a JSON-lines file (local, or streamed from S3) -> rows
    rows.py           one input row, as the readers hand it on
    score_chunk.py    one chunk: validate, predict -> predicted and rejected columns
    score_outputs.py  the outputs: parquet or CSV by name, written whole or not at all
    locations.py      paths and s3:// URIs: which is which, the client, errors in words
    serve.py          the ASGI app and ``streaming serve``'s command line
    server.py         gunicorn: its settings, and a port checked before it starts
    openapi.py        GET /openapi.json, from the JSON Schemas
    arguments.py      the command-line parser: a mistake is one line
    errors.py         how both fail: one line, an exit status, -v for the traceback
"""
