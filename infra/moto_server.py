"""moto server with DynamoDB's atomicity.

moto serves requests on threads and applies a DynamoDB write as read, modify, write in
Python, so two concurrent conditional writes or ADD updates of one item can interleave:
both conditions pass, or one increment is lost. Real DynamoDB (and LocalStack) apply each
item write atomically. Serialising moto's DynamoDB actions behind one lock restores that;
every other service (SQS long polls included) keeps its threads.

Usage: python3 infra/moto_server.py -H 127.0.0.1 -p 4566 (the arguments of moto_server).
"""

import threading

from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_LOCK = threading.Lock()
_call_action = DynamoHandler.call_action


def _atomic_call_action(self):
    with _LOCK:
        return _call_action(self)


DynamoHandler.call_action = _atomic_call_action

if __name__ == "__main__":
    main()
