"""The real handler, then a pause: a runner killed during the pause has published a batch
it has not checkpointed - the case that produces duplicates after a restart.

Each invocation appends a line to ``$SLOW_HANDLER_MARK`` once its outputs are written,
so a test can kill the runner exactly then.
"""

from __future__ import annotations

import os
import time

import lambda_function


def handler(event, context):
    response = lambda_function.lambda_handler(event, context)
    with open(os.environ["SLOW_HANDLER_MARK"], "a") as mark:
        mark.write(f"{len(event['Records'])}\n")
    time.sleep(0.5)
    return response
