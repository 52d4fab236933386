"""The tests, in three levels (``make test`` runs them all):

* ``unit/``: in this process, or a local server on loopback (gunicorn, a stub);
* ``static/``: files checked against the code, nothing run: template.yaml
  (cfn-lint), the Dockerfiles, docker-compose.yaml, the shell scripts;
* ``integration/``: a Kinesis/S3/SQS emulator over HTTP (moto here; LocalStack
  in ``integration-test/localstack.sh``).

``pytest -m "not slow"`` (``make test-fast``) is the inner loop: what ``slow``
means is in ``conftest.py``. Shared helpers are in ``support/``.
"""
