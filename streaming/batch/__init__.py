"""Home of the scheduled batch job (issue 16): a third function that scores one
day of rides from a database into a predictions table, with a report.

It gets its own entry module and its own zip: this package plus
``streaming.consumer`` (validation, features) and ``streaming.model``.
"""
