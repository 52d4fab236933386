"""One fresh interpreter, as a Lambda sandbox: import a handler, invoke it, report.

    python -m bench.child coldstart ours|baseline EVENT.json
    python -m bench.child rss ours|baseline EVENT.json

Prints one JSON line: import (init) seconds, invocation seconds, peak RSS (MiB,
the kernel's VmHWM of this process; getrusage's ru_maxrss would carry the parent's
peak across fork+exec) and how many predictions the response held.
"""

from __future__ import annotations

import json
import resource
import sys
import time

started = time.perf_counter()


def peak_rss_kib() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # not Linux


def main() -> int:
    mode, which, event_path = sys.argv[1:4]
    with open(event_path) as fh:
        event = json.load(fh)
    t0 = time.perf_counter()
    if which == "ours":
        import lambda_function as handler_module
    else:
        from bench.baseline import lambda_function as handler_module
    t1 = time.perf_counter()
    response = handler_module.lambda_handler(event, None)
    t2 = time.perf_counter()
    peak_kib = peak_rss_kib()
    print(
        json.dumps(
            {
                "mode": mode,
                "which": which,
                "records": len(event["Records"]),
                "init_s": t1 - t0,
                "invoke_s": t2 - t1,
                "since_start_s": t2 - started,
                "peak_rss_mib": peak_kib / 1024,
                "predictions": len(response["predictions"]),
                "failures": len(response.get("batchItemFailures", [])),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
