#!/usr/bin/env bash
# End-to-end test of the container path (needs a Docker engine):
# build the Lambda image, start LocalStack + the function (docker compose), invoke
# it through the runtime interface emulator with the course's Kinesis event,
# check the prediction landed on the output stream, and always tear down.
set -euo pipefail
cd "$(dirname "$0")/.."

COMPOSE=(docker compose)
UP=(up -d --wait)  # compose v2 waits for the health checks
if ! docker compose version >/dev/null 2>&1; then COMPOSE=(docker-compose); UP=(up -d); fi
PROJECT=ride-duration-it-$$

cleanup() {
  status=$?
  if [ $status -ne 0 ]; then "${COMPOSE[@]}" -p "$PROJECT" logs --tail 50 || true; fi
  "${COMPOSE[@]}" -p "$PROJECT" down -v --remove-orphans || true
  exit $status
}
trap cleanup EXIT INT TERM

"${COMPOSE[@]}" -p "$PROJECT" build
"${COMPOSE[@]}" -p "$PROJECT" "${UP[@]}"

# The course's ride 256 as the event source mapping would deliver it.
DATA=$(printf '%s' '{"ride": {"PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66}, "ride_id": 256}' | base64 | tr -d '\n')
SEQ=49630081666084879290581185630324770398608704880802529282
EVENT=$(cat <<JSON
{"Records": [{"kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": "1",
  "sequenceNumber": "$SEQ", "data": "$DATA", "approximateArrivalTimestamp": 1654161514.132},
  "eventSource": "aws:kinesis", "eventVersion": "1.0",
  "eventID": "shardId-000000000000:$SEQ", "eventName": "aws:kinesis:record",
  "invokeIdentityArn": "arn:aws:iam::000000000000:role/lambda-kinesis-role",
  "awsRegion": "us-east-1",
  "eventSourceARN": "arn:aws:kinesis:us-east-1:000000000000:stream/ride_events"}]}
JSON
)

RESPONSE=$(curl -sf --retry 30 --retry-connrefused --retry-delay 1 -X POST "http://127.0.0.1:8080/2015-03-31/functions/function/invocations" -d "$EVENT")
echo "response: $RESPONSE"
printf '%s' "$RESPONSE" | python3 -c '
import json, sys
r = json.load(sys.stdin)
assert r["batchItemFailures"] == [], r
[p] = r["predictions"]
assert p["prediction"]["ride_id"] == 256 and 1 < p["prediction"]["ride_duration"] < 60, p
'

# The prediction must be on the output stream (read inside the LocalStack container).
found=
for shard in shardId-000000000000 shardId-000000000001; do
  it=$("${COMPOSE[@]}" -p "$PROJECT" exec -T localstack awslocal kinesis get-shard-iterator \
       --stream-name ride_predictions --shard-id "$shard" --shard-iterator-type TRIM_HORIZON \
       --query ShardIterator --output text)
  data=$("${COMPOSE[@]}" -p "$PROJECT" exec -T localstack awslocal kinesis get-records \
         --shard-iterator "$it" --query 'Records[].Data' --output text)
  for d in $data; do
    if printf '%s' "$d" | base64 -d | grep -q '"ride_id": *256'; then found=1; fi
  done
done
[ -n "$found" ] || { echo "FAIL: no prediction for ride 256 on ride_predictions" >&2; exit 1; }
echo "OK: the prediction for ride 256 is on ride_predictions"
