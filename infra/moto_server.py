"""moto server with DynamoDB's atomicity, at DynamoDB's speed.

Two fixes to moto's DynamoDB, applied before the server starts:

1. Atomic writes. moto serves requests on threads and applies a write as read, modify,
   write in Python, so two concurrent conditional writes or ADD updates of one item can
   interleave: both conditions pass, or an increment is lost. Real DynamoDB (and
   LocalStack) apply each item write atomically. moto's DynamoDB actions run behind one
   lock here; every other service (SQS long polls included) keeps its threads.

2. Transactions that do not copy the table. moto makes TransactWriteItems undoable by
   deep-copying the whole table once per item of the transaction, so every transaction
   costs time in proportion to the table's size and a test run slows down as it writes.
   Here a transaction snapshots only the items it touches and puts them back if it fails;
   the outcome is the same (all or nothing), in constant time.

Usage: python3 infra/moto_server.py -H 127.0.0.1 -p 4566 (the arguments of moto_server).
"""

import copy
import threading
import types

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_LOCK = threading.Lock()
_call_action = DynamoHandler.call_action


def _atomic_call_action(self):
    with _LOCK:
        return _call_action(self)


DynamoHandler.call_action = _atomic_call_action


def _deepcopy_except_tables(value, memo=None):
    """moto's transaction calls copy.deepcopy(table): hand the table back uncopied."""
    if isinstance(value, Table):
        return value
    return copy.deepcopy(value, memo)


_copy_without_tables = types.SimpleNamespace(deepcopy=_deepcopy_except_tables)
_transact_write_items = DynamoDBBackend.transact_write_items


def _item_key(backend, op_type, op):
    table = backend.get_table(op["TableName"])
    source = op["Item"] if op_type == "Put" else op["Key"]
    key = {table.hash_key_attr: source[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = source[table.range_key_attr]
    return op["TableName"], key


def _transact_write_items_undoable(self, transact_items):
    snapshots = []
    for entry in transact_items:
        op_type, op = next(iter(entry.items()))
        if op_type in {"Put", "Delete", "Update"} and "TableName" in op:
            try:
                table_name, key = _item_key(self, op_type, op)
            except Exception:  # a malformed request: moto reports it itself
                continue
            current = self.get_item(table_name, key)
            snapshots.append((table_name, key, copy.deepcopy(current.to_json()["Attributes"]) if current else None))
    dynamodb_models.copy = _copy_without_tables
    try:
        return _transact_write_items(self, transact_items)
    except Exception:
        for table_name, key, attributes in reversed(snapshots):
            if attributes is None:
                if self.get_item(table_name, key) is not None:
                    self.delete_item(table_name, key)
            else:
                self.put_item(table_name, attributes)
        raise
    finally:
        dynamodb_models.copy = copy


DynamoDBBackend.transact_write_items = _transact_write_items_undoable

if __name__ == "__main__":
    main()
