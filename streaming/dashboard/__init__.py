"""``streaming dashboard``: the monitoring database as a page (``server``), built from
one JSON summary (``summary``); the page and its chart library are in ``static/``."""
