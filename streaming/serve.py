"""``streaming serve``: the model as a web service, on gunicorn (a production WSGI server).

    streaming serve --port 9696
    curl -s localhost:9696/predict \\
        -d '{"PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66}'

``POST /predict`` takes one ride: the course web service's body
(``{"PULocationID", "DOLocationID", "trip_distance"}``) or the stream's event
(``{"ride": {...}, "ride_id": ...}``), with an optional ``pickup_datetime``
(else the ride starts now). It answers ``{"duration": minutes,
"model_version": ...}`` (plus ``ride_id`` when sent). Bad input gets a 400 with
the same reason codes as the dead-letter stream. ``GET /health`` and ``GET
/openapi.json`` describe the service. Validation and features are the handler's
own code, so the web service and the stream agree to the last bit.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from streaming.events import RecordRef, Rejection, Ride, decode_json
from streaming.features import feature_matrix
from streaming.model import LoadedModel

MAX_BODY_BYTES = 64 * 1024
JSON = [("Content-Type", "application/json")]

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Ride duration prediction",
        "version": "1.0.0",
        "description": "Predicts NYC green-taxi ride durations (minutes) at ride start.",
    },
    "paths": {
        "/predict": {
            "post": {
                "summary": "Predict one ride's duration",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "oneOf": [
                                    {"$ref": "#/components/schemas/CourseRide"},
                                    {"$ref": "#/components/schemas/RideEvent"},
                                ]
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "The prediction",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Prediction"}
                            }
                        },
                    },
                    "400": {
                        "description": "Invalid ride",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    },
                    "413": {"description": "Body over 64 KiB"},
                },
            }
        },
        "/health": {
            "get": {
                "summary": "Liveness and model version",
                "responses": {
                    "200": {
                        "description": "Serving",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Health"}}
                        },
                    }
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3.1 description"}},
            }
        },
    },
    "components": {
        "schemas": {
            "CourseRide": {
                "type": "object",
                "required": ["PULocationID", "DOLocationID", "trip_distance"],
                "properties": {
                    "PULocationID": {"type": "integer"},
                    "DOLocationID": {"type": "integer"},
                    "trip_distance": {"type": "number", "minimum": 0},
                    "pickup_datetime": {
                        "type": "string",
                        "description": "ISO 8601; naive = New York",
                    },
                    "ride_id": {"type": ["integer", "string"]},
                },
            },
            "RideEvent": {
                "type": "object",
                "required": ["ride", "ride_id"],
                "properties": {
                    "ride": {"$ref": "#/components/schemas/CourseRide"},
                    "ride_id": {"type": ["integer", "string"]},
                },
            },
            "Prediction": {
                "type": "object",
                "required": ["duration", "model_version"],
                "properties": {
                    "duration": {"type": "number"},
                    "model_version": {"type": "string"},
                    "ride_id": {"type": ["integer", "string"]},
                },
            },
            "Error": {
                "type": "object",
                "required": ["error", "detail"],
                "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
            },
            "Health": {
                "type": "object",
                "properties": {
                    "status": {"const": "ok"},
                    "model": {"type": "string"},
                    "model_version": {"type": "string"},
                },
            },
        }
    },
}

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class PredictionApp:
    """The WSGI application: a few routes, no framework."""

    def __init__(self, model: LoadedModel, version: str | None = None) -> None:
        self.model = model
        self.version = version or model.version
        self._openapi = json.dumps(OPENAPI).encode()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/")
        if path == "/predict":
            if method != "POST":
                return _reply(
                    start_response,
                    405,
                    {"error": "method_not_allowed", "detail": "use POST"},
                    [("Allow", "POST")],
                )
            return self._predict(environ, start_response)
        if path == "/health" and method in ("GET", "HEAD"):
            return _reply(
                start_response,
                200,
                {"status": "ok", "model": self.model.name, "model_version": self.version},
            )
        if path == "/openapi.json" and method in ("GET", "HEAD"):
            start_response("200 OK", [*JSON, ("Content-Length", str(len(self._openapi)))])
            return [self._openapi]
        return _reply(start_response, 404, {"error": "not_found", "detail": path})

    def _predict(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            return _reply(
                start_response,
                413,
                {"error": "body_too_large", "detail": f"at most {MAX_BODY_BYTES} bytes"},
            )
        body = environ["wsgi.input"].read(length) if length else b""
        item = self.parse(body)
        if isinstance(item, Rejection):
            return _reply(start_response, 400, {"error": item.reason.value, "detail": item.detail})
        minutes = float(self.model.predictor.predict(feature_matrix([item]))[0])
        answer: dict[str, Any] = {"duration": minutes, "model_version": self.version}
        if item.ride_id != _NO_RIDE_ID:
            answer["ride_id"] = item.ride_id
        return _reply(start_response, 200, answer)

    @staticmethod
    def parse(body: bytes) -> Ride | Rejection:
        """Either body shape -> a validated ride; the ride starts now unless it says when."""
        ref = RecordRef.standalone(0, arrival_timestamp=time.time())
        try:
            payload = json.loads(body)
        except ValueError:
            return decode_json(body, ref)  # the same invalid_json / invalid_utf8 reasons
        if isinstance(payload, dict) and "ride" not in payload:
            ride_id = payload.get("ride_id", _NO_RIDE_ID)
            payload = {"ride": payload, "ride_id": ride_id}
        return decode_json(json.dumps(payload).encode(), ref)


#: stands in for the course body's missing ride_id (a valid partition key, never echoed)
_NO_RIDE_ID = "-"


def _reply(
    start_response: StartResponse,
    status: int,
    payload: dict[str, Any],
    headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    body = json.dumps(payload).encode()
    reason = {
        200: "OK",
        400: "Bad Request",
        404: "Not Found",
        405: "Method Not Allowed",
        413: "Content Too Large",
    }[status]
    start_response(
        f"{status} {reason}", [*JSON, ("Content-Length", str(len(body))), *(headers or [])]
    )
    return [body]


def create_app() -> PredictionApp:
    """Load the model from the environment, as the Lambda function does."""
    from streaming.config import Settings
    from streaming.model import load_model

    settings = Settings.from_env()
    return PredictionApp(load_model(settings.model_location), settings.model_version_override)


def main(argv: list[str] | None = None) -> int:
    from gunicorn.app.base import BaseApplication

    p = argparse.ArgumentParser(
        prog="streaming serve",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--host", default="127.0.0.1", help="interface (default loopback; 0.0.0.0 in a container)"
    )
    p.add_argument("--port", type=int, default=9696)
    p.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    p.add_argument("--threads", type=int, default=4, help="threads per process (default 4)")
    p.add_argument("--access-log", action="store_true", help="log every request")
    args = p.parse_args(argv)
    app = create_app()  # before forking: workers share the loaded model

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options = {
                "bind": f"{args.host}:{args.port}",
                "workers": args.workers,
                "threads": args.threads,
                "worker_class": "gthread",
                "timeout": 30,
                "graceful_timeout": 10,
                "keepalive": 5,
                "accesslog": "-" if args.access_log else None,
                "errorlog": "-",
                "loglevel": "info",
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> PredictionApp:
            return app

    Server().run()
    return 0
