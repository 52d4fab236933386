"""The project's database: one schema history for the monitoring function and the
batch job, and the engine both open it with (SQLite locally, PostgreSQL for real).

    engine.py              make_engine / open_store (migrated), insert_of, StoreError
    history.py             schema_version and the numbered migrations
    monitoring_tables.py   the monitoring function's windows, join and references
    batch_tables.py        the batch job's predictions, rejects and runs

Depends on nothing else of ``streaming``; ``monitoring`` and ``batch`` depend on it.
"""
