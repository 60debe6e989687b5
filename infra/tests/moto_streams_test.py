"""infra/moto_server.py's DynamoDB Streams, read the way a consumer reads them (boto3
dynamodbstreams: DescribeStream, GetShardIterator, GetRecords): only committed changes,
one record per change, as DynamoDB writes them.

Run: .venv/bin/python -m unittest infra/tests/moto_streams_test.py
It starts its own moto on a free port and stops it at the end.
"""

import os
import sys
import unittest
import uuid

import boto3
from botocore.exceptions import ClientError

sys.path.insert(0, os.path.dirname(__file__))  # run by path from the repo root, as make test does
from local_moto import CREDENTIALS, MotoTestCase  # noqa: E402


class MotoStreams(MotoTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dynamodb = boto3.client("dynamodb", endpoint_url=cls.endpoint, **CREDENTIALS)
        cls.streams = boto3.client("dynamodbstreams", endpoint_url=cls.endpoint, **CREDENTIALS)

    def setUp(self):
        self.table = f"t-{uuid.uuid4().hex[:8]}"
        out = self.dynamodb.create_table(
            TableName=self.table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        self.stream_arn = out["TableDescription"]["LatestStreamArn"]

    def records(self):
        """Every record of the table's stream, from its start."""
        shard = self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"][0]
        iterator = self.streams.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records = []
        while True:
            out = self.streams.get_records(ShardIterator=iterator, Limit=1000)
            if not out["Records"]:
                return records
            records.extend(out["Records"])
            iterator = out["NextShardIterator"]

    def put(self, pk, **attributes):
        item = {"pk": {"S": pk}, **{k: {"S": v} for k, v in attributes.items()}}
        self.dynamodb.put_item(TableName=self.table, Item=item)

    def set_x(self, pk, value, **extra):
        self.dynamodb.update_item(
            TableName=self.table,
            Key={"pk": {"S": pk}},
            UpdateExpression="SET x = :x",
            ExpressionAttributeValues={":x": {"S": value}},
            **extra,
        )

    def shard_id(self, stream_arn):
        return self.streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]

    def test_every_stream_has_a_shard_id_of_its_own(self):
        # A table restored from a copy, with a stream enabled afterwards: DynamoDB gives the
        # new stream new shard ids, and the tally's per-shard watermarks rely on it.
        copy = f"{self.table}-copy"
        self.put("a", x="1")
        self.dynamodb.restore_table_to_point_in_time(SourceTableName=self.table, TargetTableName=copy,
                                                    UseLatestRestorableTime=True)
        enabled = self.dynamodb.update_table(
            TableName=copy, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
        )
        copy_stream = enabled["TableDescription"]["LatestStreamArn"]
        ours, theirs = self.shard_id(self.stream_arn), self.shard_id(copy_stream)
        self.assertNotEqual(ours, theirs)
        for shard in (ours, theirs):
            self.assertRegex(shard, r"^shardId-[0-9]{20}-[0-9a-f]{8}$")

    def test_a_cancelled_transaction_leaves_the_stream_as_it_was(self):
        self.put("a", x="1")
        self.put("guard")
        before = self.records()
        with self.assertRaises(ClientError) as cancelled:
            self.dynamodb.transact_write_items(
                TransactItems=[
                    {"Update": {"TableName": self.table, "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET x = :x",
                                "ExpressionAttributeValues": {":x": {"S": "2"}}}},
                    {"Put": {"TableName": self.table, "Item": {"pk": {"S": "new"}}}},
                    {"ConditionCheck": {"TableName": self.table, "Key": {"pk": {"S": "guard"}},
                                        "ConditionExpression": "attribute_not_exists(pk)"}},
                ]
            )
        self.assertEqual(cancelled.exception.response["Error"]["Code"], "TransactionCanceledException")
        self.assertEqual(self.records(), before)
        # The next committed write takes the next sequence number: no gap where the phantoms were.
        self.put("b")
        after = self.records()
        self.assertEqual(len(after), len(before) + 1)
        self.assertEqual(int(after[-1]["dynamodb"]["SequenceNumber"]), int(before[-1]["dynamodb"]["SequenceNumber"]) + 1)

    def test_a_committed_transaction_emits_one_record_per_write(self):
        self.put("a", x="1")
        self.dynamodb.transact_write_items(
            TransactItems=[
                {"Update": {"TableName": self.table, "Key": {"pk": {"S": "a"}}, "UpdateExpression": "SET x = :x",
                            "ExpressionAttributeValues": {":x": {"S": "2"}}}},
                {"Put": {"TableName": self.table, "Item": {"pk": {"S": "b"}}}},
            ]
        )
        self.assertEqual([r["eventName"] for r in self.records()], ["INSERT", "MODIFY", "INSERT"])

    def test_an_update_that_creates_an_item_emits_one_insert_with_the_whole_item(self):
        self.set_x("fresh", "1")
        records = self.records()
        self.assertEqual([r["eventName"] for r in records], ["INSERT"])
        self.assertEqual(records[0]["dynamodb"]["NewImage"], {"pk": {"S": "fresh"}, "x": {"S": "1"}})
        self.assertNotIn("OldImage", records[0]["dynamodb"])

    def test_writes_that_change_nothing_emit_no_record(self):
        self.put("a", x="1")
        self.set_x("a", "1")
        self.put("a", x="1")
        self.assertEqual([r["eventName"] for r in self.records()], ["INSERT"])
        self.set_x("a", "2")
        records = self.records()
        self.assertEqual([r["eventName"] for r in records], ["INSERT", "MODIFY"])
        self.assertEqual(records[1]["dynamodb"]["OldImage"]["x"], {"S": "1"})
        self.assertEqual(records[1]["dynamodb"]["NewImage"]["x"], {"S": "2"})

    def test_a_failed_conditional_update_emits_nothing_and_creates_nothing(self):
        with self.assertRaises(ClientError):
            self.set_x("ghost", "1", ConditionExpression="attribute_exists(pk)")
        self.assertEqual(self.records(), [])
        self.assertNotIn("Item", self.dynamodb.get_item(TableName=self.table, Key={"pk": {"S": "ghost"}}))


if __name__ == "__main__":
    unittest.main()


class MotoQueries(MotoTestCase):
    """moto_server.py's queries read one partition: the same items, order and pages."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.dynamodb = boto3.client("dynamodb", endpoint_url=cls.endpoint, **CREDENTIALS)

    def test_a_query_sees_its_partition_in_order_page_by_page_both_ways(self):
        table = f"q-{uuid.uuid4().hex[:8]}"
        self.dynamodb.create_table(
            TableName=table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in ("pk", "sk")],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        )
        for pk in ("a", "b", "c"):
            for n in (3, 1, 4, 0, 2):
                item = {"pk": {"S": pk}, "sk": {"S": f"k{n}"}}
                self.dynamodb.put_item(TableName=table, Item=item)

        def pages(forward):
            keys, start = [], {}
            while True:
                out = self.dynamodb.query(
                    TableName=table,
                    KeyConditionExpression="pk = :pk",
                    ExpressionAttributeValues={":pk": {"S": "b"}},
                    Limit=2,
                    ScanIndexForward=forward,
                    **start,
                )
                keys.append([(i["pk"]["S"], i["sk"]["S"]) for i in out["Items"]])
                if "LastEvaluatedKey" not in out:
                    return keys
                start = {"ExclusiveStartKey": out["LastEvaluatedKey"]}

        b = [("b", f"k{n}") for n in range(5)]
        self.assertEqual(pages(True), [b[0:2], b[2:4], b[4:5]])
        self.assertEqual(sum(pages(False), []), b[::-1])
        out = self.dynamodb.query(
            TableName=table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :k)",
            ExpressionAttributeValues={":pk": {"S": "c"}, ":k": {"S": "k3"}},
        )
        self.assertEqual([i["sk"]["S"] for i in out["Items"]], ["k3"])
        none = self.dynamodb.query(
            TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": "zz"}}
        )
        self.assertEqual(none["Items"], [])
