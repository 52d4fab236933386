"""The daily batch job (issue 16): the rides that started on one New York day, read
from a database, scored with the stream's own validation, features and model,
written back to the database idempotently, with a report.

    days.py            a New York service day: its bounds, its length, "yesterday"  (pure)
    input_table.py     the user's rides table and its column mapping
    source.py          a day's rows in chunks -> the ride events the stream would get
    job.py             score a day: one transaction per (day, model version), runs on record
    summary.py         a day's figures in fixed-size counters  (pure)
    report.py          those figures as self-contained HTML  (pure)
    svg.py             the report's charts, inline SVG  (pure)
    report_data.py     a day's figures and the days before it, read back from the database
    parquet_output.py  --output: the course's partitioned parquet layout
    tlc_import.py      import-tlc: a TLC month into the rides table
    function.py        the scheduled Lambda function (``batch_function.py``): settings, a day

The Lambda function ships this package with ``consumer``, ``model``, ``serving``
(``score_chunk``: the chunk scorer the file scorer uses), ``database`` and
``monitoring`` (its secret and EMF helpers); pyarrow is needed only by the
command line's ``--output`` and ``import-tlc``.
"""
