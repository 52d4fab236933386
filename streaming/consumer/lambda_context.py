"""A stand-in for the Lambda context object, for local invocations.

The course's tests call ``lambda_handler(event, None)``; Powertools' decorators
need a context, and the publisher needs a deadline. ``LocalContext`` has the
attributes of the real one (Lambda docs, *Using the Lambda context object to
retrieve Python function information*) with a deadline of ``timeout_s``.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field


@dataclass
class LocalContext:
    function_name: str = "ride-duration-prediction-local"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 1024
    timeout_s: float = 60.0
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    region: str = "us-east-1"
    account_id: str = "000000000000"
    log_group_name: str = "/aws/lambda/ride-duration-prediction-local"
    log_stream_name: str = "local"
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))
