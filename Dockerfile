# The stream consumer as a Lambda container image (runtime dependencies only).
#   docker build -t ride-duration-prediction .
# The base is pinned to a dated tag of the AWS Lambda Python 3.12 image; pin its
# digest too when you mirror it (docker buildx imagetools inspect <tag>).
ARG BASE_IMAGE=public.ecr.aws/lambda/python:3.12.2026.10.03.13
FROM ${BASE_IMAGE}

# numpy, boto3, aws-lambda-powertools, tzdata and their dependencies (~118 MB);
# no scikit-learn, scipy or pandas: the model is served by numpy alone.
COPY requirements-lambda.txt ${LAMBDA_TASK_ROOT}/
RUN pip install --no-cache-dir --disable-pip-version-check -r ${LAMBDA_TASK_ROOT}/requirements-lambda.txt

# Only what the function imports: the entry module, streaming/consumer and streaming/model.
COPY lambda_function.py ${LAMBDA_TASK_ROOT}/
COPY streaming/__init__.py ${LAMBDA_TASK_ROOT}/streaming/
COPY streaming/consumer/ ${LAMBDA_TASK_ROOT}/streaming/consumer/
COPY streaming/model/ ${LAMBDA_TASK_ROOT}/streaming/model/
COPY models/metadata.json models/model.npz ${LAMBDA_TASK_ROOT}/models/

CMD ["lambda_function.lambda_handler"]
