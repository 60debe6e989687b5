#!/usr/bin/env python3
"""Runs an operator command (ballot-local) with the settings of a stack, under the names
the functions use (TABLE_NAME, SIGNING_KEYS_SECRET_ID, CLOSING_SCHEDULE_GROUP, …):

- `ops_env.py --stack NAME -- CMD…`: a deployed stack, read from its CloudFormation
  outputs with your AWS credentials and region (boto3, installed with sam in .venv);
- `ops_env.py -- CMD…`: the running `make dev` stack, read from the env file its
  bootstrap wrote ($BALLOT_STATE_DIR/functions.env, or the one `make dev` points at).

Each queue's URL is also given as BALLOT_QUEUE_URL_<LogicalId>, for `dlq-replay`.
"""

import os
import shlex
import sys

POINTER = os.path.join(os.environ.get("TMPDIR", "/tmp"), "ballot-dev.state")

# Stack output -> the functions' env name.
OUTPUTS = {
    "TableName": "TABLE_NAME",
    "SigningKeysSecretArn": "SIGNING_KEYS_SECRET_ID",
    "VerificationKeysSecretArn": "VERIFICATION_KEYS_SECRET_ID",
    "EventsQueueUrl": "EVENTS_QUEUE_URL",
    "EventsQueueArn": "EVENTS_QUEUE_ARN",
    "EventsDeadLetterQueueArn": "EVENTS_DLQ_ARN",
    "ClosingScheduleGroup": "CLOSING_SCHEDULE_GROUP",
    "ClosingScheduleRoleArn": "CLOSING_SCHEDULE_ROLE_ARN",
}
# Stack output -> the queue it is the URL of.
QUEUES = {
    "EventsQueueUrl": "EventsQueue",
    "DeliveriesQueueUrl": "DeliveriesQueue",
    "LiveQueueUrl": "LiveQueue",
}


def deployed(stack):
    import boto3

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    described = boto3.client("cloudformation", region_name=region).describe_stacks(StackName=stack)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    env = {name: outputs[key] for key, name in OUTPUTS.items() if key in outputs}
    env.update({f"BALLOT_QUEUE_URL_{queue}": outputs[key] for key, queue in QUEUES.items() if key in outputs})
    return env


def local():
    state = os.environ.get("BALLOT_STATE_DIR")
    if not state and os.path.exists(POINTER):
        with open(POINTER) as f:
            state = f.read().strip()
    path = os.path.join(state or "", "functions.env")
    if not state or not os.path.exists(path):
        return {}
    env = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("=")
            if key:
                parsed = shlex.split(value) if value else [""]
                env[key] = parsed[0] if parsed else ""
    return env


def main(argv):
    stack = None
    if argv[:1] == ["--stack"]:
        stack, argv = argv[1], argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        sys.exit(__doc__)
    env = deployed(stack) if stack else local()
    os.execvpe(argv[0], argv, {**os.environ, **env})


if __name__ == "__main__":
    main(sys.argv[1:])
