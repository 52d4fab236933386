#!/bin/bash
# LocalStack "ready" hook: create the streams the function reads and writes.
# Runs inside the LocalStack container once it is ready (/etc/localstack/init/ready.d).
set -euo pipefail
while read -r name shards; do
  awslocal kinesis create-stream --stream-name "$name" --shard-count "$shards"
  awslocal kinesis wait stream-exists --stream-name "$name"
done <<'STREAMS'
ride_events 2
ride_predictions 2
ride_dead_letters 1
STREAMS
