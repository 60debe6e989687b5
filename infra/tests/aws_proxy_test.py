"""infra/aws_proxy.py against moto: forwarding, metering and faults, through boto3.

Run with the toolchain's Python (bash infra/install.sh creates .venv):
    .venv/bin/python -m unittest infra/tests/aws_proxy_test.py

It starts moto (infra/moto_server.py) and the proxy on free ports, logging to a temporary
folder outside the repo, and stops both at the end.
"""

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request
import uuid

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "infra"))

import aws_proxy  # noqa: E402  (the unit under test, for its pure functions)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, seconds, what):
    """Waits for CONDITION() to hold, checking every 20 ms; fails after SECONDS."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}")


def accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


class ProxyTest(unittest.TestCase):
    """One moto and one proxy for the class; each test uses tables and queues of its own
    and resets the meter and faults first."""

    @classmethod
    def setUpClass(cls):
        cls.logs = tempfile.mkdtemp(prefix="ballot-aws-proxy-test.")
        moto_port, proxy_port = free_port(), free_port()
        cls.processes = []
        cls.start("moto", [sys.executable, os.path.join(ROOT, "infra/moto_server.py"), "-H", "127.0.0.1",
                           "-p", str(moto_port)], moto_port)
        cls.start("proxy", [sys.executable, os.path.join(ROOT, "infra/aws_proxy.py"),
                            "--listen", f"127.0.0.1:{proxy_port}", "--upstream", f"http://127.0.0.1:{moto_port}"],
                  proxy_port)
        cls.proxy = f"http://127.0.0.1:{proxy_port}"
        cls.proxy_port = proxy_port

    @classmethod
    def start(cls, name, command, port):
        with open(os.path.join(cls.logs, f"{name}.log"), "w") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       cwd=ROOT, env={**os.environ, "BALLOT_FAULTS": ""})
        cls.processes.append(process)
        wait_until(lambda: process.poll() is None and accepts(port) or process.poll() is not None, 60,
                   f"{name} on port {port}")
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited; its log is in {cls.logs}")

    @classmethod
    def tearDownClass(cls):
        for process in cls.processes:
            process.terminate()
        for process in cls.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()

    def setUp(self):
        self.control("DELETE", "/__proxy/faults")
        self.control("POST", "/__proxy/meter/reset")

    # --- helpers ----------------------------------------------------------------------

    def control(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.proxy + path, data=data, method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def meter(self):
        return self.control("GET", "/__proxy/meter")

    def client(self, service, attempts=1, read_timeout=60):
        return boto3.client(service, endpoint_url=self.proxy, region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test",
                            config=Config(retries={"total_max_attempts": attempts, "mode": "standard"},
                                          read_timeout=read_timeout, connect_timeout=5))

    def table(self):
        name = f"proxy-{uuid.uuid4().hex[:8]}"
        self.client("dynamodb").create_table(
            TableName=name, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
        return name

    def raw_call(self, target, payload, timeout=10):
        """A DynamoDB call by hand, so a test sees exactly what comes back on the wire."""
        conn = http.client.HTTPConnection("127.0.0.1", self.proxy_port, timeout=timeout)
        body = json.dumps(payload)
        conn.request("POST", "/", body, {
            "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"DynamoDB_20120810.{target}",
            "Authorization": "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/dynamodb/aws4_request, "
                             "SignedHeaders=host, Signature=0"})
        try:
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    # --- metering ---------------------------------------------------------------------

    def test_units_follow_dynamodb_pricing_from_item_sizes(self):
        ddb = self.client("dynamodb")
        name = self.table()
        # 2+2 (pk) + 2+1 (sk) + 4+1500 (data) = 1511 bytes: 2 write units.
        ddb.put_item(TableName=name, Item={"pk": {"S": "p1"}, "sk": {"S": "a"}, "data": {"S": "x" * 1500}})
        # adds n = 5 (1 + 2 bytes): 1514 bytes before and after: 2 write units.
        ddb.update_item(TableName=name, Key={"pk": {"S": "p1"}, "sk": {"S": "a"}},
                        UpdateExpression="SET n = :n", ExpressionAttributeValues={":n": {"N": "5"}})
        strong = ddb.get_item(TableName=name, Key={"pk": {"S": "p1"}, "sk": {"S": "a"}}, ConsistentRead=True)
        self.assertEqual(strong["Item"]["n"], {"N": "5"})
        ddb.get_item(TableName=name, Key={"pk": {"S": "p1"}, "sk": {"S": "a"}})
        ddb.query(TableName=name, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p1"}})
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": name, "Item": {"pk": {"S": "p2"}, "sk": {"S": "b"}}}},
            {"Put": {"TableName": name, "Item": {"pk": {"S": "p2"}, "sk": {"S": "c"}}}}])
        with self.assertRaises(ClientError) as refused:
            ddb.put_item(TableName=name, Item={"pk": {"S": "p1"}, "sk": {"S": "a"}},
                         ConditionExpression="attribute_not_exists(pk)")
        self.assertEqual(refused.exception.response["Error"]["Code"], "ConditionalCheckFailedException")
        ddb.delete_item(TableName=name, Key={"pk": {"S": "p2"}, "sk": {"S": "b"}})

        meter = self.meter()
        ops = meter["dynamodb"]["operations"]
        self.assertEqual(ops["PutItem"], {"write_units": 2 + 2, "read_units": 0})  # the failed one costs the 1514-byte item
        self.assertEqual(ops["UpdateItem"]["write_units"], 2)
        self.assertEqual(ops["GetItem"]["read_units"], 1 + 0.5)
        self.assertEqual(ops["Query"]["read_units"], 0.5)
        self.assertEqual(ops["TransactWriteItems"]["write_units"], 2 * (1 + 1))
        self.assertEqual(ops["DeleteItem"]["write_units"], 1)
        self.assertEqual(meter["dynamodb"]["write_units"], 4 + 2 + 4 + 1)
        self.assertEqual(meter["dynamodb"]["read_units"], 2)
        self.assertEqual(meter["dynamodb"]["per_pk_write_units"][name], {"p1": 6, "p2": 5})
        self.assertEqual(meter["dynamodb"]["busiest_pk"], {"table": name, "pk": "p1", "write_units": 6})
        # The proxy's own reads (DescribeTable, the GetItems around writes) aren't calls.
        self.assertEqual(meter["calls"]["dynamodb"], {"CreateTable": 1, "PutItem": 2, "UpdateItem": 1,
                                                     "GetItem": 2, "Query": 1, "TransactWriteItems": 1,
                                                     "DeleteItem": 1})

    def test_index_writes_are_charged_to_the_index_key(self):
        ddb = self.client("dynamodb")
        name = f"proxy-{uuid.uuid4().hex[:8]}"
        ddb.create_table(
            TableName=name, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "g", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[{"IndexName": "byg", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                     "Projection": {"ProjectionType": "KEYS_ONLY"}}])
        ddb.put_item(TableName=name, Item={"pk": {"S": "a"}, "g": {"S": "hot"}})   # table 1 + index put 1
        ddb.put_item(TableName=name, Item={"pk": {"S": "b"}})                      # table 1, not in the index
        ddb.update_item(TableName=name, Key={"pk": {"S": "a"}}, UpdateExpression="SET g = :g",
                        ExpressionAttributeValues={":g": {"S": "cold"}})           # table 1 + index delete 1 + put 1
        meter = self.meter()["dynamodb"]
        self.assertEqual(meter["write_units"], 1 + 1 + 1 + 1 + 1 + 1)
        self.assertEqual(meter["per_pk_write_units"][f"{name}/byg"], {"hot": 2, "cold": 1})

    def test_item_sizes(self):
        size = aws_proxy.item_size
        self.assertEqual(size({"a": {"N": "123.4500"}}), 1 + 3 + 1)  # 12345: 3 bytes + 1
        self.assertEqual(size({"a": {"N": "-0.001"}}), 1 + 1 + 1)
        self.assertEqual(size({"ab": {"BOOL": True}, "c": {"NULL": True}}), 3 + 2)
        self.assertEqual(size({"m": {"M": {"k": {"S": "vv"}}}}), 1 + 3 + 1 + 1 + 2)
        self.assertEqual(size({"l": {"L": [{"S": "x"}, {"N": "1"}]}}), 1 + 3 + (1 + 1) + (1 + 2))
        self.assertEqual(size({"s": {"SS": ["é", "b"]}}), 1 + 3)
        self.assertEqual(size({"b": {"B": "AAEC"}}), 1 + 3)

    # --- faults -----------------------------------------------------------------------

    def test_a_throttled_write_is_not_forwarded_and_reads_as_throttling(self):
        ddb = self.client("dynamodb")
        name = self.table()
        self.control("POST", "/__proxy/faults", {"share": 1.0, "services": ["dynamodb"], "kinds": ["throttle"]})
        with self.assertRaises(ClientError) as throttled:
            ddb.put_item(TableName=name, Item={"pk": {"S": "t"}, "sk": {"S": "t"}})
        self.assertEqual(throttled.exception.response["Error"]["Code"], "ProvisionedThroughputExceededException")
        self.assertEqual(throttled.exception.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        self.assertEqual(self.control("GET", "/__proxy/faults")["injected"]["throttle"], 1)
        self.control("DELETE", "/__proxy/faults")
        self.assertNotIn("Item", ddb.get_item(TableName=name, Key={"pk": {"S": "t"}, "sk": {"S": "t"}},
                                              ConsistentRead=True))
        meter = self.meter()
        self.assertEqual(meter["faulted"]["dynamodb"], {"PutItem": 1})
        self.assertNotIn("PutItem", meter["dynamodb"]["operations"])

    def test_a_server_error_is_retried_by_the_sdk(self):
        ddb = self.client("dynamodb", attempts=2)
        self.control("POST", "/__proxy/faults", {"share": 1.0, "services": ["dynamodb"], "kinds": ["error"],
                                                 "operations": ["ListTables"]})
        with self.assertRaises(ClientError) as failed:
            ddb.list_tables()
        self.assertEqual(failed.exception.response["Error"]["Code"], "InternalServerError")
        self.assertEqual(failed.exception.response["ResponseMetadata"]["HTTPStatusCode"], 500)
        self.assertEqual(failed.exception.response["ResponseMetadata"]["RetryAttempts"], 1)
        self.assertEqual(self.control("GET", "/__proxy/faults")["injected"]["error"], 2)

    def test_sqs_and_secrets_manager_faults_parse_as_their_own_codes(self):
        sqs, secrets = self.client("sqs"), self.client("secretsmanager")
        queue = sqs.create_queue(QueueName=f"proxy-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        secret = secrets.create_secret(Name=f"proxy-{uuid.uuid4().hex[:8]}", SecretString="s")["ARN"]
        expected = {("sqs", "throttle"): ("RequestThrottled", 400), ("sqs", "error"): ("InternalFailure", 500),
                    ("secretsmanager", "throttle"): ("ThrottlingException", 400),
                    ("secretsmanager", "error"): ("InternalServiceError", 500)}
        calls = {"sqs": lambda: sqs.send_message(QueueUrl=queue, MessageBody="m"),
                 "secretsmanager": lambda: secrets.get_secret_value(SecretId=secret)}
        for (service, kind), (code, status) in expected.items():
            with self.subTest(service=service, kind=kind):
                self.control("POST", "/__proxy/faults", {"share": 1.0, "services": [service], "kinds": [kind]})
                with self.assertRaises(ClientError) as fault:
                    calls[service]()
                self.assertEqual(fault.exception.response["Error"]["Code"], code)
                self.assertEqual(fault.exception.response["ResponseMetadata"]["HTTPStatusCode"], status)
        self.control("DELETE", "/__proxy/faults")
        self.assertNotIn("Messages", sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0))  # none was sent

    def test_a_timeout_closes_without_an_answer_and_forwards_nothing(self):
        name = self.table()
        self.control("POST", "/__proxy/faults", {"share": 1.0, "kinds": ["timeout"], "timeout_ms": 300})
        started = time.monotonic()
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionResetError)):
            self.raw_call("PutItem", {"TableName": name, "Item": {"pk": {"S": "x"}, "sk": {"S": "x"}}})
        self.assertGreaterEqual(time.monotonic() - started, 0.3)
        self.control("DELETE", "/__proxy/faults")
        status, body = self.raw_call("GetItem", {"TableName": name, "Key": {"pk": {"S": "x"}, "sk": {"S": "x"}},
                                                 "ConsistentRead": True})
        self.assertEqual((status, json.loads(body)), (200, {}))

    def test_timeout_after_commits_the_write_and_loses_its_answer(self):
        name = self.table()
        self.control("POST", "/__proxy/faults", {"share": 1.0, "kinds": ["timeout_after"], "timeout_ms": 100})
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionResetError)):
            self.raw_call("PutItem", {"TableName": name, "Item": {"pk": {"S": "y"}, "sk": {"S": "y"}}})
        self.control("DELETE", "/__proxy/faults")
        status, body = self.raw_call("GetItem", {"TableName": name, "Key": {"pk": {"S": "y"}, "sk": {"S": "y"}},
                                                 "ConsistentRead": True})
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["Item"]["pk"], {"S": "y"})
        self.assertEqual(self.meter()["dynamodb"]["operations"]["PutItem"]["write_units"], 1)

    def test_a_held_write_waits_for_the_release_then_commits_and_its_answer_is_recorded_not_sent(self):
        name = self.table()
        put = lambda key, **condition: self.raw_call(  # noqa: E731
            "PutItem", {"TableName": name, "Item": {"pk": {"S": key}, "sk": {"S": key}}, **condition})
        self.control("POST", "/__proxy/faults", {"share": 1.0, "kinds": ["hold"], "operations": ["PutItem"],
                                                 "after": 1})
        self.assertEqual(put("first")[0], 200)  # `after`: the first eligible call passes
        outcomes = []

        def held(key, **condition):
            try:
                outcomes.append(put(key, **condition))
            except (http.client.RemoteDisconnected, ConnectionResetError) as error:
                outcomes.append(error)

        threads = [threading.Thread(target=held, args=("second",)),
                   threading.Thread(target=held, args=("first",),
                                    kwargs={"ConditionExpression": "attribute_not_exists(pk)"})]
        for thread in threads:
            thread.start()
        wait_until(lambda: len(self.control("GET", "/__proxy/faults")["held"]) == 2, 10, "two held calls")
        get = {"TableName": name, "Key": {"pk": {"S": "second"}, "sk": {"S": "second"}}, "ConsistentRead": True}
        self.assertEqual(json.loads(self.raw_call("GetItem", get)[1]), {}, "a held write is not forwarded")
        self.control("DELETE", "/__proxy/faults")  # turning faults off does not release them
        self.assertEqual(len(self.control("GET", "/__proxy/faults")["held"]), 2)

        self.assertEqual(self.control("POST", "/__proxy/release"), {"released": 2})
        for thread in threads:
            thread.join(10)
        self.assertTrue(all(isinstance(o, Exception) for o in outcomes), f"no answer reaches the caller: {outcomes}")
        self.assertEqual(json.loads(self.raw_call("GetItem", get)[1])["Item"]["pk"], {"S": "second"})
        released = sorted((r["status"], r["code"] or "") for r in self.control("GET", "/__proxy/faults")["released"])
        self.assertEqual(released, [(200, ""), (400, "ConditionalCheckFailedException")])

    def test_key_contains_faults_only_the_calls_on_matching_items(self):
        name = self.table()
        self.control("POST", "/__proxy/faults", {"share": 1.0, "kinds": ["throttle"], "key_contains": "#TALLY"})
        get = lambda key: self.raw_call(  # noqa: E731
            "GetItem", {"TableName": name, "Key": {"pk": {"S": key}, "sk": {"S": key}}})[0]
        self.assertEqual(get("POLL#1#TALLY"), 400)
        self.assertEqual(get("POLL#1"), 200)
        self.assertEqual(self.raw_call("Scan", {"TableName": name})[0], 200, "a call without a Key is not eligible")
        self.assertEqual(self.control("GET", "/__proxy/faults")["eligible"], 1)
        self.control("DELETE", "/__proxy/faults")

    def test_a_seeded_share_is_about_that_share_and_repeats(self):
        ddb = self.client("dynamodb")

        def pattern():
            self.control("POST", "/__proxy/faults", {"share": 0.1, "services": ["dynamodb"], "kinds": ["throttle"],
                                                     "seed": 7})
            hits = []
            for _ in range(200):
                try:
                    ddb.list_tables(Limit=1)
                    hits.append(False)
                except ClientError as error:
                    self.assertEqual(error.response["Error"]["Code"], "ProvisionedThroughputExceededException")
                    hits.append(True)
            self.assertEqual(self.control("GET", "/__proxy/faults")["injected"]["throttle"], sum(hits))
            return hits

        first = pattern()
        self.assertTrue(10 <= sum(first) <= 32, f"{sum(first)} of 200 faulted at share 0.1")
        self.assertEqual(pattern(), first)

    # --- forwarding -------------------------------------------------------------------

    def test_a_long_poll_does_not_block_other_calls(self):
        sqs, ddb = self.client("sqs"), self.client("dynamodb")
        queue = sqs.create_queue(QueueName=f"proxy-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        name = self.table()
        received = {}
        poll = threading.Thread(target=lambda: received.update(
            sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=20)))
        poll.start()
        wait_until(lambda: self.meter()["calls"].get("sqs", {}).get("ReceiveMessage") == 1, 10,
                   "the long poll to reach the proxy")
        started = time.monotonic()
        ddb.get_item(TableName=name, Key={"pk": {"S": "z"}, "sk": {"S": "z"}})
        self.assertLess(time.monotonic() - started, 5)
        self.assertTrue(poll.is_alive(), "the long poll ended before the GetItem was answered")
        sqs.send_message(QueueUrl=queue, MessageBody="wake up")  # ends the poll
        poll.join(25)
        self.assertEqual([m["Body"] for m in received.get("Messages", [])], ["wake up"])

    def test_a_chunked_request_is_forwarded(self):
        name = self.table()
        conn = http.client.HTTPConnection("127.0.0.1", self.proxy_port, timeout=10)
        body = json.dumps({"TableName": name, "Key": {"pk": {"S": "c"}, "sk": {"S": "c"}}}).encode()
        conn.request("POST", "/", iter([body[:10], body[10:]]), {
            "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.GetItem",
            "Authorization": "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/dynamodb/aws4_request, "
                             "SignedHeaders=host, Signature=0"}, encode_chunked=True)
        response = conn.getresponse()
        self.assertEqual((response.status, json.loads(response.read())), (200, {}))
        conn.close()


if __name__ == "__main__":
    unittest.main()
