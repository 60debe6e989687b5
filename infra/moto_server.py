"""moto server with DynamoDB's atomicity, at DynamoDB's speed, and a mailbox.

Fixes to moto, applied before the server starts (1-4 and 6 to DynamoDB, 5 to SES, 7 to
CodeDeploy):

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

3. Streams that show only committed changes, one record per change, as DynamoDB's do:
   - a cancelled TransactWriteItems leaves every touched table's stream exactly as it
     was (moto wrote a record per applied action, and the rollback wrote more);
   - an UpdateItem that creates an item emits one INSERT with the whole item (moto
     emitted a keys-only INSERT first);
   - a PutItem or UpdateItem that changes nothing emits no record (moto emitted MODIFY);
   - stream reads take the same lock as writes, so a reader never sees a record that a
     write is about to take back; the lock covers only taking the records (a list
     slice of immutable snapshots), and GetRecords' answer is written with `json`
     outside it. moto's own response serializer takes ~0.8 ms per record, so a read of
     1,000 records held every write of the stack up for most of a second.
   TTL deletions still never happen in moto, so their REMOVE records never appear.

4. Queries that read one partition. moto's Query of a table lists and sorts every item
   of the table, then keeps the partition's, so each query costs time in proportion to
   the table's size (a recount, which queries a poll's 128 ballot partitions, took
   seconds on a table a test run had filled). Here a query of the table (not of an
   index) sees only its partition's items; the result, order and paging are moto's.

5. A mailbox: `GET /_ballot/mail` lists the mail moto's SES has accepted, so `make dev`
   can show it and tests can read the links in it. moto keeps every sent message in
   `ses_backends[account][region].sent_messages` (SES v2's SendEmail with
   `Content.Simple` goes through v1's `send_email`) but serves them to no client, and
   records no time. Here `send_email` stamps each message with its time and a sequence
   number, and the path answers, as JSON, every message of every account and region in
   the order they were sent:
     {"messages": [{"id": "...", "from": "...", "to": ["..."], "subject": "...",
                    "body": "...", "sent_at": "2025-01-02T03:04:05.678901Z"}]}
   `to` is the ToAddresses; `?to=<address>` keeps the messages to that address (case
   does not matter). Raw and templated mail are not listed. The path is answered before
   moto's dispatch to a service (DomainDispatcherApplication), and no AWS API uses it:
   the JSON and query APIs post to `/`, REST APIs start with a version or a resource
   name, and S3's path style would read `_ballot` as a bucket, which no bucket name can
   be (they start with a letter or digit).

6. A shard id of its own for each stream. moto names every stream's one shard
   `shardId-00000001541626099285-f35f62ef` and starts its sequence numbers at the same
   number, so a table restored from a copy (with the tally's per-shard watermarks in it)
   and given a new stream would have its new records taken for ones already folded.
   DynamoDB's shard ids are unique (`shardId-<creation time, 20 digits>-<8 hex>`); here
   each new stream's shard gets one of that form.

7. CodeDeploy's PutLifecycleEventHookExecutionStatus, which moto lacks: the status a
   deploy hook reports (the pre-traffic hook of the canary deploys) is accepted and kept,
   and `GET /_ballot/hooks` lists them in the order they came, so tests can read what a
   hook decided: {"statuses": [{"deploymentId": "...", "lifecycleEventHookExecutionId":
   "...", "status": "Succeeded"}]}.

Usage: python3 infra/moto_server.py -H 127.0.0.1 -p 4566 (the arguments of moto_server).
"""

import copy
import datetime
import inspect
import itertools
import json
import secrets
import threading
import types

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.dynamodbstreams.models import DynamoDBStreamsBackend
from moto.dynamodbstreams.responses import DynamoDBStreamsHandler
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.codedeploy.responses import CodeDeployResponse
from moto.core.responses import ActionResult
from moto.server import main
from moto.ses.models import Message, SESBackend, ses_backends
from werkzeug.wrappers import Request, Response

_LOCK = threading.Lock()


def _atomic(call_action):
    def atomic_call_action(self):
        with _LOCK:
            return call_action(self)

    return atomic_call_action


def _locked(method):
    def locked(*args, **kwargs):
        with _LOCK:
            return method(*args, **kwargs)

    return locked


DynamoHandler.call_action = _atomic(DynamoHandler.call_action)
for _read in ("describe_stream", "list_streams", "get_shard_iterator", "get_records"):
    setattr(DynamoDBStreamsBackend, _read, _locked(getattr(DynamoDBStreamsBackend, _read)))


def _epoch_seconds(value):
    """JSON for the one non-JSON value in a stream record: moto's naive UTC datetime."""
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=datetime.timezone.utc).timestamp()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _get_records(self):
    """GetRecords as moto answers it, written with `json` (see the module's doc)."""
    limit = self._get_param("Limit")
    result = self.backend.get_records(self._get_param("ShardIterator"), 1000 if limit is None else limit)
    return json.dumps(result, default=_epoch_seconds), {"status": 200, "Content-Type": "application/x-amz-json-1.0"}


DynamoDBStreamsHandler.get_records = _get_records


def _deepcopy_except_tables(value, memo=None):
    """moto's transaction calls copy.deepcopy(table): hand the table back uncopied."""
    if isinstance(value, Table):
        return value
    return copy.deepcopy(value, memo)


_copy_without_tables = types.SimpleNamespace(deepcopy=_deepcopy_except_tables)
_transact_write_items = DynamoDBBackend.transact_write_items


def _key_of_item(table, attributes):
    """The key attributes of an item (or of a key)."""
    key = {table.hash_key_attr: attributes[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attributes[table.range_key_attr]
    return key


def _item_key(backend, op_type, op):
    table = backend.get_table(op["TableName"])
    return op["TableName"], _key_of_item(table, op["Item"] if op_type == "Put" else op["Key"])


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
    marks = {name: _stream_mark(self.get_table(name)) for name, _, _ in snapshots}
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
        for table_name, mark in marks.items():
            _stream_rewind(self.get_table(table_name), mark)
        raise
    finally:
        dynamodb_models.copy = copy


DynamoDBBackend.transact_write_items = _transact_write_items_undoable


def _stream_mark(table):
    """How many records the table's stream holds (None: no stream)."""
    return None if table.stream_shard is None else len(table.stream_shard.items)


def _stream_rewind(table, mark):
    """Drops the records written after `mark`. moto numbers a record by its position
    (starting sequence number + index), so the next record takes the first dropped
    number: the stream reads as if the dropped records had never been written."""
    if mark is not None and table.stream_shard is not None:
        del table.stream_shard.items[mark:]


def _one_record_per_change(write, key_of):
    """Wraps a backend write `write(self, table_name, second, ...)`, whose `second`
    argument gives the item's key through `key_of(table, second)`: whatever records
    moto wrote for it, the stream ends with one record for the change (INSERT, MODIFY)
    or none if the item is unchanged. A write that fails leaves the stream and the item
    as they were (moto can fail an update after creating its keys-only item)."""

    def wrapped(self, table_name, second, *args, **kwargs):
        table = self.get_table(table_name)
        try:
            key = key_of(table, second)
            before = self.get_item(table_name, key)
        except Exception:  # a malformed request: moto reports it itself
            return write(self, table_name, second, *args, **kwargs)
        old = copy.deepcopy(before)
        mark = _stream_mark(table)
        try:
            item = write(self, table_name, second, *args, **kwargs)
        except Exception:
            if old is None and self.get_item(table_name, key) is not None:
                self.delete_item(table_name, key)
            _stream_rewind(table, mark)
            raise
        if mark is not None:
            _stream_rewind(table, mark)
            if old is None or old.to_json() != item.to_json():
                table.stream_shard.add(old, item)
        return item

    return wrapped


DynamoDBBackend.put_item = _one_record_per_change(DynamoDBBackend.put_item, _key_of_item)
DynamoDBBackend.update_item = _one_record_per_change(DynamoDBBackend.update_item, lambda _table, key: key)

_query = Table.query
_QUERY_INDEX = list(inspect.signature(_query).parameters).index("index_name")


def _query_one_partition(self, hash_key, *args, **kwargs):
    index_name = kwargs.get("index_name", args[_QUERY_INDEX - 2] if len(args) > _QUERY_INDEX - 2 else None)
    if index_name is not None or hash_key is None:
        return _query(self, hash_key, *args, **kwargs)
    partition = self.items.get(hash_key)
    if partition is None:
        items = []
    elif self.range_key_attr:
        items = list(partition.values())
    else:
        items = [partition]
    self.all_items = lambda: items  # read by moto's query, under the lock
    try:
        return _query(self, hash_key, *args, **kwargs)
    finally:
        del self.all_items


Table.query = _query_one_partition

MAIL_PATH = "/_ballot/mail"
_sent_sequence = itertools.count()
_send_email = SESBackend.send_email


def _send_email_stamped(self, *args, **kwargs):
    """moto's send_email; the accepted message also gets `sent_at` and `sent_sequence`."""
    message = _send_email(self, *args, **kwargs)
    message.sent_at = datetime.datetime.now(datetime.timezone.utc)
    message.sent_sequence = next(_sent_sequence)
    return message


SESBackend.send_email = _send_email_stamped


def sent_mail(to=None):
    """Every stamped message of every SES backend, oldest first, as `GET /_ballot/mail`
    answers them; only those whose ToAddresses hold `to` (any case) when it is given."""
    messages = [
        message
        for account in list(ses_backends.values())
        for backend in list(account.values())
        for message in list(backend.sent_messages)
        if isinstance(message, Message) and hasattr(message, "sent_sequence")
    ]
    messages.sort(key=lambda message: message.sent_sequence)
    listed = []
    for message in messages:
        recipients = list(message.destinations.get("ToAddresses", []))
        if to is not None and to.lower() not in (address.lower() for address in recipients):
            continue
        listed.append(
            {
                "id": message.id,
                "from": message.source,
                "to": recipients,
                "subject": message.subject,
                "body": message.body,
                "sent_at": message.sent_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            }
        )
    return listed


def _mailbox(environ, start_response):
    request = Request(environ)
    if request.method != "GET":
        response = Response(status=405, headers={"Allow": "GET"})
    else:
        body = json.dumps({"messages": sent_mail(request.args.get("to"))})
        response = Response(body, status=200, content_type="application/json")
    return response(environ, start_response)


_dispatch = DomainDispatcherApplication.__call__


HOOKS_PATH = "/_ballot/hooks"
_HOOK_STATUSES = []


def _put_lifecycle_event_hook_execution_status(self):
    execution_id = self._get_param("lifecycleEventHookExecutionId")
    with _LOCK:
        _HOOK_STATUSES.append(
            {
                "deploymentId": self._get_param("deploymentId"),
                "lifecycleEventHookExecutionId": execution_id,
                "status": self._get_param("status"),
            }
        )
    return ActionResult({"lifecycleEventHookExecutionId": execution_id})


CodeDeployResponse.put_lifecycle_event_hook_execution_status = _put_lifecycle_event_hook_execution_status


def _hooks(environ, start_response):
    with _LOCK:
        body = json.dumps({"statuses": list(_HOOK_STATUSES)})
    return Response(body, status=200, content_type="application/json")(environ, start_response)


def _dispatch_with_mailbox(self, environ, start_response):
    if environ.get("PATH_INFO") == MAIL_PATH:
        return _mailbox(environ, start_response)
    if environ.get("PATH_INFO") == HOOKS_PATH and environ.get("REQUEST_METHOD") == "GET":
        return _hooks(environ, start_response)
    return _dispatch(self, environ, start_response)


DomainDispatcherApplication.__call__ = _dispatch_with_mailbox

_stream_shard_init = dynamodb_models.table.StreamShard.__init__


def _stream_shard_unique(self, *args, **kwargs):
    _stream_shard_init(self, *args, **kwargs)
    created_ms = int(self.created_on.timestamp() * 1000)
    self.id = f"shardId-{created_ms:020d}-{secrets.token_hex(4)}"


dynamodb_models.table.StreamShard.__init__ = _stream_shard_unique

if __name__ == "__main__":
    main()
