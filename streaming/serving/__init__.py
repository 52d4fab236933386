"""The model's other two deployment modes, on the stream's own validation and features.

``score``: batch scoring of a whole file (TLC parquet or JSON lines, local or
S3). ``serve``: the web service (``POST /predict``) on gunicorn. Both answer a
ride exactly as the stream does. Imports ``streaming.consumer`` and
``streaming.model``.
"""
