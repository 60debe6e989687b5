"""The AWS proxy: meters and faults the AWS calls of the local stack.

It sits between the functions and moto (or anything else that speaks AWS's wire
protocols) and

1. forwards every HTTP request unchanged (method, path, headers in their order, Host
   included since SigV4 signs it, body) to --upstream and streams the answer back: the
   status and headers as sent, except the hop-by-hop ones (Connection, Keep-Alive,
   Transfer-Encoding), which belong to each connection. Every client connection has an
   upstream connection of its own and runs on a thread of its own, so a 20 s SQS long
   poll holds one thread and nothing else;
2. meters the calls: per service and operation, and for DynamoDB the write and read
   units each call costs under on-demand pricing, from the real item sizes (the table's
   and its indexes'), per operation and per partition key;
3. injects faults: a set share of the calls is answered with the service's own
   throttling or server error, or held and dropped without an answer, and is then never
   forwarded (no side effect); kind `timeout_after` forwards first, so the write commits
   and only its answer is lost; kind `hold` keeps the call until it is released, then
   forwards it and drops the connection: a write still in flight from a caller that has
   died meanwhile (the fault tests kill the process that sent it). `after` lets that many
   eligible calls through before any fault; `key_contains` narrows DynamoDB faults to
   calls on one kind of item.

Its own endpoints, answered here and never forwarded:

    GET    /__proxy/meter         the meter, as JSON
    POST   /__proxy/meter/reset   zeroes the meter
    GET    /__proxy/faults        the fault setting and what it has injected
    POST   /__proxy/faults        sets faults, e.g. {"share": 0.1, "kinds": ["throttle"], "seed": 7}
    DELETE /__proxy/faults        turns faults off (held calls stay held)
    POST   /__proxy/release       forwards every held call; GET /__proxy/faults then
                                  lists them under "released", with DynamoDB's answer

Usage: python3 infra/aws_proxy.py --listen 127.0.0.1:4567 --upstream http://127.0.0.1:4566
       [--faults '<json>'] (or the same JSON in BALLOT_FAULTS). Standard library only.
docs/local-stack.md describes the pricing rules and the fault kinds.
"""

import argparse
import base64
import http.client
import http.server
import json
import math
import os
import random
import re
import socket
import sys
import threading
import urllib.parse
import uuid

# ---------------------------------------------------------------------------------------
# Item sizes and DynamoDB's on-demand prices
# ---------------------------------------------------------------------------------------

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096


def number_size(text):
    """Bytes DynamoDB counts for a number: 1 per two significant digits, plus 1."""
    mantissa = re.split(r"[eE]", text.strip(), maxsplit=1)[0]
    digits = re.sub(r"[^0-9]", "", mantissa).strip("0")  # 1000 is 1E3: one significant digit
    return math.ceil(max(len(digits), 1) / 2) + 1


def value_size(value):
    """Bytes of one attribute value in DynamoDB's JSON wire form ({"S": "..."} etc.)."""
    (kind, data), = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        return number_size(data)
    if kind == "B":
        return len(base64.b64decode(data))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in data)
    if kind == "NS":
        return sum(number_size(n) for n in data)
    if kind == "BS":
        return sum(len(base64.b64decode(b)) for b in data)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in data)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in data.items())
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item):
    """Bytes of an item: over its attributes, name (UTF-8) plus value. None (no item): 0."""
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(*items):
    """Write units of writing one item: per started KB of the largest of ITEMS, at least 1."""
    return max(1, math.ceil(max(item_size(i) for i in items) / WRITE_UNIT_BYTES))


def read_units(size, consistent):
    """Read units of reading SIZE bytes: per started 4 KB, at least 1; half if eventual."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return units if consistent else units / 2


def key_label(value):
    """A partition key value as the meter shows it: the S, N or B value itself."""
    (_, data), = value.items()
    return str(data)


# ---------------------------------------------------------------------------------------
# Which service and operation a request is
# ---------------------------------------------------------------------------------------

_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_TARGET_SERVICES = {
    "DynamoDB_20120810": "dynamodb",
    "DynamoDBStreams_20120810": "dynamodb",
    "AmazonSQS": "sqs",
    "secretsmanager": "secretsmanager",
}


def service_of(headers, path):
    """The service: the SigV4 credential scope's, else the X-Amz-Target prefix's."""
    auth = headers.get("Authorization", "") or urllib.parse.unquote(path)
    match = _SCOPE.search(auth.replace("X-Amz-Credential=", "Credential="))
    if match:
        return match.group(1)
    prefix = headers.get("X-Amz-Target", "").split(".", 1)[0]
    return _TARGET_SERVICES.get(prefix, "unknown")


def operation_of(method, path, headers, body):
    """The operation: X-Amz-Target's (JSON protocols), Action= (query protocol), else
    the method and the path's first segment (REST protocols: S3, Scheduler)."""
    target = headers.get("X-Amz-Target", "")
    if "." in target:
        return target.split(".", 1)[1]
    url = urllib.parse.urlsplit(path)
    params = urllib.parse.parse_qs(url.query)
    if "Action" not in params and "x-www-form-urlencoded" in headers.get("Content-Type", ""):
        params = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
    if "Action" in params:
        return params["Action"][0]
    return f"{method} /{url.path.lstrip('/').split('/', 1)[0]}"


def is_query_protocol(path, headers, body):
    """Whether the request speaks the query protocol (form parameters, XML answers)."""
    return "Action=" in urllib.parse.urlsplit(path).query or (
        "x-www-form-urlencoded" in headers.get("Content-Type", "") and b"Action=" in body
    )


# ---------------------------------------------------------------------------------------
# The meter
# ---------------------------------------------------------------------------------------


class Meter:
    """Counts calls and DynamoDB units. Invariant: write_units and read_units are the sums
    of the per-operation figures; per-key write units sum to the table's share of them."""

    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self):
        with self._lock:
            self._calls = {}
            self._faulted = {}
            self._ops = {}
            self._per_key = {}

    def call(self, service, operation, faulted):
        """One request received; FAULTED when a fault answered it instead of upstream."""
        with self._lock:
            _bump(self._calls.setdefault(service, {}), operation, 1)
            if faulted:
                _bump(self._faulted.setdefault(service, {}), operation, 1)

    def charge(self, operation, write=0, read=0, keys=()):
        """Units of one DynamoDB call; KEYS: (where, partition key, write units) triples,
        where is the table, or table/index for an index's writes."""
        with self._lock:
            figures = self._ops.setdefault(operation, {"write_units": 0, "read_units": 0})
            figures["write_units"] += write
            figures["read_units"] += read
            for where, pk, units in keys:
                _bump(self._per_key.setdefault(where, {}), pk, units)

    def snapshot(self):
        with self._lock:
            ops = json.loads(json.dumps(self._ops))
            per_key = json.loads(json.dumps(self._per_key))
            calls = json.loads(json.dumps(self._calls))
            faulted = json.loads(json.dumps(self._faulted))
        busiest = max(
            ((where, pk, units) for where, keys in per_key.items() for pk, units in keys.items()),
            key=lambda entry: entry[2],
            default=None,
        )
        return {
            "calls": calls,
            "faulted": faulted,
            "dynamodb": {
                "write_units": sum(o["write_units"] for o in ops.values()),
                "read_units": sum(o["read_units"] for o in ops.values()),
                "operations": ops,
                "per_pk_write_units": per_key,
                "busiest_pk": busiest and {"table": busiest[0], "pk": busiest[1], "write_units": busiest[2]},
            },
        }


def key_text(service, body):
    """The `Key` of a DynamoDB call as JSON text (what `key_contains` matches), or None."""
    if service != "dynamodb":
        return None
    request = _json_or_none(body)
    key = request.get("Key") if isinstance(request, dict) else None
    return json.dumps(key, sort_keys=True) if key is not None else None


def _bump(counts, key, amount):
    counts[key] = counts.get(key, 0) + amount


# ---------------------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------------------

FAULT_KINDS = ("throttle", "error", "timeout", "timeout_after", "hold")


def parse_faults(config):
    """A validated fault setting from its JSON form; raises ValueError on a bad one."""
    if not isinstance(config, dict):
        raise ValueError("faults: expected a JSON object")
    unknown = set(config) - {"share", "services", "kinds", "seed", "timeout_ms", "operations", "after", "key_contains"}
    if unknown:
        raise ValueError(f"faults: unknown fields {sorted(unknown)}")
    share = float(config.get("share", 0))
    if not 0 <= share <= 1:
        raise ValueError("faults: share must be between 0 and 1")
    kinds = list(config.get("kinds", ["throttle", "error", "timeout"]))
    if not kinds or set(kinds) - set(FAULT_KINDS):
        raise ValueError(f"faults: kinds must be a non-empty list of {FAULT_KINDS}")
    timeout_ms = int(config.get("timeout_ms", 3000))
    if timeout_ms < 0:
        raise ValueError("faults: timeout_ms must be >= 0")
    after = int(config.get("after", 0))
    if after < 0:
        raise ValueError("faults: after must be >= 0")
    services = config.get("services")
    operations = config.get("operations")
    key_contains = config.get("key_contains")
    if key_contains is not None and not (isinstance(key_contains, str) and key_contains):
        raise ValueError("faults: key_contains must be a non-empty string")
    return {
        "key_contains": key_contains,
        "after": after,
        "share": share,
        "services": list(services) if services is not None else None,
        "kinds": kinds,
        "seed": config.get("seed"),
        "timeout_ms": timeout_ms,
        "operations": list(operations) if operations is not None else None,
    }


class Faults:
    """Decides which calls fail. Invariant: given a seed, the n-th eligible call (one whose
    service and operation the setting names) gets the same decision on every run, since
    each eligible call past the first `after` draws exactly twice from one generator,
    under a lock. Held calls outlive the setting: only a release ends them."""

    def __init__(self):
        self._lock = threading.Lock()
        self._released = threading.Condition(self._lock)
        self._held = {}  # id -> {"peer", "operation"}, until released
        self._outcomes = []  # {"peer", "operation", "status", "code"} of released calls
        self._generation = 0  # bumped by each release
        self.clear()

    def set(self, config):
        setting = parse_faults(config)
        with self._lock:
            self._setting = setting
            self._random = random.Random(setting["seed"])
            self._eligible = 0
            self._injected = {kind: 0 for kind in FAULT_KINDS}
            self._outcomes = []

    def clear(self):
        with self._lock:
            self._setting = None
            self._random = None
            self._eligible = 0
            self._injected = {kind: 0 for kind in FAULT_KINDS}

    def draw(self, service, operation, key=lambda: None):
        """The fault kind for this call and the timeout in seconds, or (None, 0). KEY() is
        the text of a DynamoDB call's `Key` (None for any other call), read only when the
        setting has `key_contains`."""
        with self._lock:
            setting = self._setting
            if setting is None:
                return None, 0
            if setting["services"] is not None and service not in setting["services"]:
                return None, 0
            if setting["operations"] is not None and operation not in setting["operations"]:
                return None, 0
            if setting["key_contains"] is not None and setting["key_contains"] not in (key() or ""):
                return None, 0
            self._eligible += 1
            if self._eligible <= setting["after"]:
                return None, 0
            hit = self._random.random() < setting["share"]
            kind = self._random.choice(setting["kinds"])
            if not hit:
                return None, 0
            self._injected[kind] += 1
            return kind, setting["timeout_ms"] / 1000

    def hold(self, peer, operation, stopping):
        """Blocks until the next release (True) or until STOPPING is set (False)."""
        with self._lock:
            call, generation = object(), self._generation
            self._held[id(call)] = {"peer": peer, "operation": operation}
            while self._generation == generation and not stopping.is_set():
                self._released.wait(0.5)
            self._held.pop(id(call), None)
            return self._generation != generation

    def released(self, peer, operation, status, code):
        with self._lock:
            self._outcomes.append({"peer": peer, "operation": operation, "status": status, "code": code})

    def release(self):
        """Lets every held call go on; how many there were."""
        with self._lock:
            self._generation += 1
            self._released.notify_all()
            return len(self._held)

    def snapshot(self):
        with self._lock:
            return {"setting": self._setting, "eligible": self._eligible, "injected": dict(self._injected),
                    "held": list(self._held.values()), "released": list(self._outcomes)}


# Each service's own wire errors, as its SDKs parse them (see docs/local-stack.md):
# JSON protocols carry the code in "__type" (the SDKs drop a "namespace#" prefix); SQS's
# JSON protocol is query-compatible and also names the query code in x-amzn-query-error,
# which both the Rust SDK and botocore prefer when present.
_JSON_ERRORS = {
    ("dynamodb", "throttle"): (400, "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                               "The level of configured provisioned throughput for the table was exceeded."),
    ("dynamodb", "error"): (500, "com.amazonaws.dynamodb.v20120810#InternalServerError",
                            "Internal server error"),
    ("sqs", "throttle"): (400, "com.amazonaws.sqs#RequestThrottled", "Request is throttled."),
    ("sqs", "error"): (500, "com.amazonaws.sqs#InternalFailure",
                       "The request processing has failed because of an unknown error."),
    ("secretsmanager", "throttle"): (400, "ThrottlingException", "Rate exceeded"),
    ("secretsmanager", "error"): (500, "InternalServiceError", "An error occurred on the server side."),
}
_GENERIC_ERRORS = {
    "throttle": (400, "ThrottlingException", "Rate exceeded"),
    "error": (500, "InternalFailure", "The request processing has failed because of an unknown error."),
}
_JSON_VERSIONS = {"dynamodb": "1.0", "sqs": "1.0", "secretsmanager": "1.1"}


def fault_answer(service, kind, query_protocol):
    """(status, headers, body) of a throttle or error answer, in SERVICE's wire format."""
    status, code, message = _JSON_ERRORS.get((service, kind), _GENERIC_ERRORS[kind])
    bare = code.rsplit("#", 1)[-1]
    request_id = str(uuid.uuid4())
    if query_protocol:
        fault = "Sender" if status < 500 else "Receiver"
        body = (f'<?xml version="1.0"?><ErrorResponse><Error><Type>{fault}</Type><Code>{bare}</Code>'
                f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>")
        return status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body.encode()
    version = _JSON_VERSIONS.get(service, "1.0")
    headers = [("Content-Type", f"application/x-amz-json-{version}"), ("x-amzn-RequestId", request_id)]
    if service == "sqs":
        headers.append(("x-amzn-query-error", f"{bare};{'Sender' if status < 500 else 'Receiver'}"))
    elif (service, kind) not in _JSON_ERRORS:
        headers.append(("x-amzn-ErrorType", bare))
    return status, headers, json.dumps({"__type": code, "message": message}).encode()


# ---------------------------------------------------------------------------------------
# DynamoDB pricing of one call
# ---------------------------------------------------------------------------------------

WRITE_OPERATIONS = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
READ_OPERATIONS = ("GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems")
SCHEMA_OPERATIONS = ("CreateTable", "DeleteTable", "UpdateTable")


class Table:
    """What pricing needs of a table: its key attributes and its indexes."""

    def __init__(self, description):
        def keys(schema):
            hash_key = next(k["AttributeName"] for k in schema if k["KeyType"] == "HASH")
            return [hash_key] + [k["AttributeName"] for k in schema if k["KeyType"] == "RANGE"]

        self.name = description["TableName"]
        self.key = keys(description["KeySchema"])
        self.indexes = [
            (index["IndexName"], keys(index["KeySchema"]), index.get("Projection", {"ProjectionType": "ALL"}))
            for index in description.get("GlobalSecondaryIndexes", []) + description.get("LocalSecondaryIndexes", [])
        ]

    def key_of(self, item):
        return {name: item[name] for name in self.key}

    def projection(self, item, index_key, projection):
        """The index entry of ITEM (None when the item lacks an index key attribute)."""
        if not item or any(name not in item for name in index_key):
            return None
        kind = projection.get("ProjectionType", "ALL")
        if kind == "ALL":
            return dict(item)
        names = set(self.key) | set(index_key) | set(projection.get("NonKeyAttributes", []) if kind == "INCLUDE" else [])
        return {name: value for name, value in item.items() if name in names}

    def index_charges(self, old, new):
        """(where, partition key, units) of the index writes that writing OLD -> NEW causes
        (AWS's rules: put into, delete from, or update an index entry; a changed index key
        is a delete and a put; an entry that doesn't change costs nothing)."""
        charges = []
        for name, index_key, projection in self.indexes:
            before, after = self.projection(old, index_key, projection), self.projection(new, index_key, projection)
            where = f"{self.name}/{name}"
            if before is not None and after is not None and _same_key(before, after, index_key):
                if before != after:
                    charges.append((where, key_label(after[index_key[0]]), write_units(before, after)))
                continue
            for entry in (before, after):
                if entry is not None:
                    charges.append((where, key_label(entry[index_key[0]]), write_units(entry)))
        return charges


def _same_key(a, b, key):
    return all(a[name] == b[name] for name in key)


def error_code(status, answer):
    """The DynamoDB error code of an answer (ConditionalCheckFailedException, ...), or None."""
    if status < 400 or not isinstance(answer, dict):
        return None
    return str(answer.get("__type", "")).rsplit("#", 1)[-1] or None


def touched_keys(operation, request, table_of):
    """The (table, key) pairs a write operation may change, in request order."""
    pairs = []
    if operation == "PutItem":
        pairs.append((request["TableName"], table_of(request["TableName"]).key_of(request["Item"])))
    elif operation in ("UpdateItem", "DeleteItem"):
        pairs.append((request["TableName"], request["Key"]))
    elif operation == "BatchWriteItem":
        for name, writes in request.get("RequestItems", {}).items():
            for write in writes:
                if "PutRequest" in write:
                    pairs.append((name, table_of(name).key_of(write["PutRequest"]["Item"])))
                else:
                    pairs.append((name, write["DeleteRequest"]["Key"]))
    elif operation == "TransactWriteItems":
        for entry in request.get("TransactItems", []):
            (kind, action), = entry.items()
            key = table_of(action["TableName"]).key_of(action["Item"]) if kind == "Put" else action["Key"]
            pairs.append((action["TableName"], key))
    return pairs


def key_id(table, key):
    return table + "\0" + json.dumps(key, sort_keys=True)


def price_write(operation, request, status, answer, before, after, table_of):
    """(write units, per-key charges) of a forwarded write. BEFORE and AFTER map key_id to
    the item before and after the call (None: no item). A write that DynamoDB refused for a
    failed condition, or a cancelled transaction, costs what it would have written; any
    other error costs nothing (see docs/local-stack.md for the sources)."""
    code = error_code(status, answer)
    failed = code in ("ConditionalCheckFailedException", "TransactionCanceledException")
    if code and not failed:
        return 0, []
    writes = []  # (table, old item, new item, factor, charges indexes)
    if operation == "PutItem":
        old = before[key_id(request["TableName"], table_of(request["TableName"]).key_of(request["Item"]))]
        writes.append((request["TableName"], old, request["Item"], 1, not failed))
    elif operation in ("UpdateItem", "DeleteItem"):
        ident = key_id(request["TableName"], request["Key"])
        new = None if operation == "DeleteItem" or failed else after[ident]
        writes.append((request["TableName"], before[ident], new, 1, not failed))
    elif operation == "BatchWriteItem":
        unprocessed = {key_id(n, w.get("PutRequest", {}).get("Item") or w["DeleteRequest"]["Key"])
                       for n, ws in (answer or {}).get("UnprocessedItems", {}).items() for w in ws}
        for name, requests in request.get("RequestItems", {}).items():
            for write in requests:
                if key_id(name, write.get("PutRequest", {}).get("Item") or write["DeleteRequest"]["Key"]) in unprocessed:
                    continue
                if "PutRequest" in write:
                    item = write["PutRequest"]["Item"]
                    writes.append((name, before[key_id(name, table_of(name).key_of(item))], item, 1, True))
                else:
                    writes.append((name, before[key_id(name, write["DeleteRequest"]["Key"])], None, 1, True))
    elif operation == "TransactWriteItems":
        for entry in request.get("TransactItems", []):
            (kind, action), = entry.items()
            name = action["TableName"]
            key = table_of(name).key_of(action["Item"]) if kind == "Put" else action["Key"]
            old = before[key_id(name, key)]
            new = {"Put": action.get("Item"), "Update": None if failed else after[key_id(name, key)],
                   "Delete": None, "ConditionCheck": old}[kind]
            writes.append((name, old, new, 2, not failed and kind != "ConditionCheck"))
    total, charges = 0, []
    for name, old, new, factor, indexes in writes:
        table = table_of(name)
        units = factor * write_units(old, new)
        total += units
        sample = new or old or request.get("Key") or {}
        pk = key_label(sample[table.key[0]]) if table.key[0] in sample else "?"
        charges.append((name, pk, units))
        if indexes:
            for where, index_pk, index_units in table.index_charges(old, new):
                total += index_units
                charges.append((where, index_pk, index_units))
    return total, charges


def price_read(operation, request, status, answer):
    """Read units of a forwarded read, from the items of its answer. Errors cost nothing."""
    if status >= 400 or not isinstance(answer, dict):
        return 0
    if operation == "GetItem":
        return read_units(item_size(answer.get("Item")), request.get("ConsistentRead", False))
    if operation in ("Query", "Scan"):
        size = sum(item_size(item) for item in answer.get("Items", []))
        return read_units(size, request.get("ConsistentRead", False))
    if operation == "BatchGetItem":
        consistent = {n: r.get("ConsistentRead", False) for n, r in request.get("RequestItems", {}).items()}
        return sum(read_units(item_size(item), consistent.get(name, False))
                   for name, items in answer.get("Responses", {}).items() for item in items)
    if operation == "TransactGetItems":
        return sum(2 * read_units(item_size(r.get("Item")), True) for r in answer.get("Responses", []))
    return 0


# ---------------------------------------------------------------------------------------
# The HTTP side
# ---------------------------------------------------------------------------------------

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade", "te", "trailer"}
_ITEM_LOCKS = [threading.Lock() for _ in range(64)]


class ProxyServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, listen, upstream, faults_config=None, verbose=False):
        super().__init__(listen, ProxyHandler)
        self.upstream = upstream
        self.meter = Meter()
        self.faults = Faults()
        self.verbose = verbose
        self.stopping = threading.Event()
        self.tables = {}
        self.tables_lock = threading.Lock()
        if faults_config:
            self.faults.set(faults_config)


class ProxyHandler(http.server.BaseHTTPRequestHandler):
    """One client connection. Invariant: a request is forwarded at most once (a stale
    upstream connection is retried only when it failed before sending any answer)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server: ProxyServer

    def setup(self):
        super().setup()
        self.upstream_conn = None

    def finish(self):
        super().finish()
        if self.upstream_conn is not None:
            self.upstream_conn.close()

    def log_message(self, format, *args):
        if self.server.verbose:
            sys.stderr.write("%s - %s\n" % (self.address_string(), format % args))

    def __getattr__(self, name):
        if name.startswith("do_"):
            return self.handle_request
        raise AttributeError(name)

    # --- one request ------------------------------------------------------------------

    def handle_request(self):
        self.answering = False  # whether this request's answer has started to go out
        body = self.read_body()
        if self.path.startswith("/__proxy/"):
            return self.control(body)
        service = service_of(self.headers, self.path)
        operation = operation_of(self.command, self.path, self.headers, body)
        kind, hold = self.server.faults.draw(service, operation, lambda: key_text(service, body))
        self.server.meter.call(service, operation, faulted=kind not in (None, "timeout_after", "hold"))
        if kind in ("throttle", "error"):
            return self.answer(*fault_answer(service, kind, is_query_protocol(self.path, self.headers, body)))
        if kind == "timeout":
            return self.drop(hold)
        peer = "%s:%d" % self.client_address[:2]
        if kind == "hold":
            if not self.server.faults.hold(peer, operation, self.server.stopping):
                return self.drop(0)
            hold = 0  # forwarded now, and the connection dropped after its answer
        self.outcome = None
        try:
            if service == "dynamodb" and self.headers.get("X-Amz-Target", "").startswith("DynamoDB_20120810."):
                self.forward_dynamodb(operation, body, drop_after=hold if kind else None)
            else:
                self.forward(body, drop_after=hold if kind else None)
            if kind == "hold" and self.outcome is not None:
                status, data = self.outcome
                self.server.faults.released(peer, operation, status, error_code(status, _json_or_none(data)))
        except (OSError, http.client.HTTPException) as error:
            self.close_connection = True
            if kind is None and not self.answering:  # upstream failed before any answer went out
                try:
                    self.answer(502, [("Content-Type", "text/plain")], f"aws proxy: upstream failed: {error}\n".encode())
                except OSError:
                    pass

    def read_body(self):
        """The request body, from Content-Length or chunked framing (trailers dropped)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def answer(self, status, headers, body):
        self.answering = True
        self.send_response_only(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def drop(self, seconds):
        """Holds the connection for SECONDS, then closes it without an answer."""
        self.server.stopping.wait(seconds)
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # --- forwarding -------------------------------------------------------------------

    def exchange(self, method, path, headers, body, chunked=False):
        """Sends one request upstream on this connection's upstream connection and returns
        the response, whose body the caller must read before the next exchange."""
        for attempt in (1, 2):
            if self.upstream_conn is None:
                url = urllib.parse.urlsplit(self.server.upstream)
                self.upstream_conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=300)
            conn, reused = self.upstream_conn, self.upstream_conn.sock is not None
            try:
                conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
                for name, value in headers:
                    conn.putheader(name, value)
                conn.endheaders(body if body or chunked else None, encode_chunked=chunked)
                response = conn.getresponse()
                if response.will_close:
                    self.upstream_conn = None  # read to its end by the caller, then dropped
                return response
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                conn.close()
                self.upstream_conn = None
                if not reused or attempt == 2:
                    raise

    def fetch(self, body):
        """Sends this request upstream unchanged; returns the response and its whole body."""
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        response = self.exchange(self.command, self.path, self.headers.items(), body, chunked)
        return response, response.read()

    def forward(self, body, drop_after=None):
        """Forwards this request unchanged and streams the answer back as it arrives (or,
        with DROP_AFTER, reads it and drops the connection after that many seconds)."""
        if drop_after is not None:
            return self.deliver(*self.fetch(body), drop_after)
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        response = self.exchange(self.command, self.path, self.headers.items(), body, chunked)
        self.relay(response, iter(lambda: response.read1(65536), b""))

    def deliver(self, response, data, drop_after):
        """Sends a fetched answer to the client, or drops the connection after DROP_AFTER s."""
        self.outcome = response.status, data
        if drop_after is not None:
            return self.drop(drop_after)
        self.relay(response, [data])

    def relay(self, response, blocks):
        """Sends RESPONSE's status and end-to-end headers as upstream sent them, then the
        body BLOCKS (re-framed as chunks when upstream gave no length)."""
        has_body = self.command != "HEAD" and response.status not in (204, 304) and response.status >= 200
        chunked = has_body and response.getheader("Content-Length") is None
        self.answering = True
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for block in blocks if has_body else ():
            if block:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block) if chunked else block)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    # --- DynamoDB metering ------------------------------------------------------------

    def dynamodb_call(self, operation, payload):
        """(status, answer) of a call made only for metering, with the caller's credentials
        (moto takes the account and region from them). Not counted in the meter."""
        body = json.dumps(payload).encode()
        headers = [(name, self.headers[name]) for name in ("Host", "Authorization", "X-Amz-Date",
                                                           "X-Amz-Security-Token") if self.headers.get(name)]
        headers += [("Content-Type", "application/x-amz-json-1.0"),
                    ("X-Amz-Target", f"DynamoDB_20120810.{operation}"), ("Content-Length", str(len(body)))]
        response = self.exchange("POST", "/", headers, body)
        return response.status, _json_or_none(response.read())

    def table(self, name):
        """The table's key schema and indexes, described once (DescribeTable upstream)."""
        with self.server.tables_lock:
            if name in self.server.tables:
                return self.server.tables[name]
        status, answer = self.dynamodb_call("DescribeTable", {"TableName": name})
        if status != 200:
            raise LookupError(f"DescribeTable {name}: {status}")
        table = Table(answer["Table"])
        with self.server.tables_lock:
            self.server.tables[name] = table
        return table

    def items(self, pairs):
        """key_id -> the item now stored under each (table, key) of PAIRS (None: none)."""
        found = {}
        for name, key in pairs:
            status, answer = self.dynamodb_call("GetItem", {"TableName": name, "Key": key, "ConsistentRead": True})
            found[key_id(name, key)] = (answer or {}).get("Item") if status == 200 else None
        return found

    def forward_dynamodb(self, operation, body, drop_after):
        """Forwards a DynamoDB call and charges its units before the client has the answer
        (so whoever has seen an answer finds its call in the meter). A write reads the items
        it touches before and after, under per-item locks, so concurrent writes through the
        proxy don't blur each other's sizes."""
        request = _json_or_none(body) or {}
        if operation in SCHEMA_OPERATIONS:
            with self.server.tables_lock:
                self.server.tables.pop(request.get("TableName"), None)
        if operation in READ_OPERATIONS:
            response, data = self.fetch(body)
            self.charge(operation, lambda: (0, price_read(operation, request, response.status, _json_or_none(data)), []))
            return self.deliver(response, data, drop_after)
        try:
            pairs = touched_keys(operation, request, self.table) if operation in WRITE_OPERATIONS else None
        except (KeyError, LookupError, ValueError, StopIteration):
            pairs = None  # a malformed request: DynamoDB refuses it, and it costs nothing
        if pairs is None:
            return self.deliver(*self.fetch(body), drop_after)
        locks = sorted({hash(key_id(*pair)) % len(_ITEM_LOCKS) for pair in pairs})
        for index in locks:
            _ITEM_LOCKS[index].acquire()
        try:
            before = self.items(pairs)
            response, data = self.fetch(body)
            answer = _json_or_none(data)
            after = self.items(pairs) if response.status == 200 and operation in ("UpdateItem", "TransactWriteItems") else {}
        finally:
            for index in reversed(locks):
                _ITEM_LOCKS[index].release()

        def price():
            units, keys = price_write(operation, request, response.status, answer, before, after, self.table)
            return units, 0, keys

        self.charge(operation, price)
        self.deliver(response, data, drop_after)

    def charge(self, operation, price):
        """Charges what PRICE() returns, (write units, read units, per-key charges). A
        pricing failure is reported and the answer still goes out: the meter never costs
        a caller its answer."""
        try:
            write, read, keys = price()
        except Exception as error:  # noqa: BLE001 (any pricing bug: report it, forward anyway)
            print(f"aws proxy: could not price {operation}: {error!r}", file=sys.stderr, flush=True)
            return
        self.server.meter.charge(operation, write=write, read=read, keys=keys)

    # --- control endpoints ------------------------------------------------------------

    def control(self, body):
        route = (self.command, urllib.parse.urlsplit(self.path).path.rstrip("/"))
        try:
            if route == ("GET", "/__proxy/meter"):
                return self.answer_json(200, self.server.meter.snapshot())
            if route == ("POST", "/__proxy/meter/reset"):
                self.server.meter.reset()
                return self.answer_json(200, self.server.meter.snapshot())
            if route == ("GET", "/__proxy/faults"):
                return self.answer_json(200, self.server.faults.snapshot())
            if route == ("POST", "/__proxy/faults"):
                self.server.faults.set(json.loads(body or b"{}"))
                return self.answer_json(200, self.server.faults.snapshot())
            if route == ("DELETE", "/__proxy/faults"):
                self.server.faults.clear()
                return self.answer_json(200, self.server.faults.snapshot())
            if route == ("POST", "/__proxy/release"):
                return self.answer_json(200, {"released": self.server.faults.release()})
        except ValueError as error:
            return self.answer_json(400, {"error": str(error)})
        return self.answer_json(404, {"error": f"no such proxy endpoint: {self.command} {self.path}"})

    def answer_json(self, status, value):
        self.answer(status, [("Content-Type", "application/json")], json.dumps(value, indent=1).encode())


def _json_or_none(data):
    try:
        return json.loads(data) if data else None
    except ValueError:
        return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", default="127.0.0.1:4567", help="HOST:PORT to listen on")
    parser.add_argument("--upstream", default="http://127.0.0.1:4566", help="the AWS endpoint (moto)")
    parser.add_argument("--faults", default=os.environ.get("BALLOT_FAULTS"), help="a fault setting (JSON)")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    faults = json.loads(args.faults) if args.faults else None
    server = ProxyServer((host or "127.0.0.1", int(port)), args.upstream, faults, args.verbose)
    print(f"aws proxy: {args.listen} -> {args.upstream}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stopping.set()
        server.server_close()


if __name__ == "__main__":
    main()
