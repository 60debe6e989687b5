"""infra/moto_server.py's mailbox: `GET /_ballot/mail` lists what SES v2's SendEmail
accepted, oldest first, with `?to=` keeping one address's mail (any case).

Run: .venv/bin/python -m unittest infra/tests/moto_mail_test.py
It starts its own moto on a free port and stops it at the end.
"""

import json
import os
import sys
import unittest
import urllib.error
import urllib.parse
import urllib.request
import uuid

import boto3
from botocore.exceptions import ClientError

sys.path.insert(0, os.path.dirname(__file__))  # run by path from the repo root, as make test does
from local_moto import CREDENTIALS, MotoTestCase  # noqa: E402


class MotoMail(MotoTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ses = boto3.client("sesv2", endpoint_url=cls.endpoint, **CREDENTIALS)
        cls.sender = f"sender-{uuid.uuid4().hex[:8]}@ballot.example"
        cls.ses.create_email_identity(EmailIdentity=cls.sender)

    def send(self, to, subject, body):
        self.ses.send_email(
            FromEmailAddress=self.sender,
            Destination={"ToAddresses": [to]},
            Content={"Simple": {"Subject": {"Data": subject}, "Body": {"Text": {"Data": body}}}},
        )

    def mail(self, to=None):
        query = "" if to is None else "?" + urllib.parse.urlencode({"to": to})
        with urllib.request.urlopen(f"{self.endpoint}/_ballot/mail{query}") as response:
            self.assertEqual(response.headers["Content-Type"], "application/json")
            return json.load(response)["messages"]

    def test_given_two_mails_when_listed_then_both_in_send_order_with_every_field(self):
        alice, bob = f"alice-{uuid.uuid4().hex[:8]}@example.com", f"bob-{uuid.uuid4().hex[:8]}@example.com"
        self.send(alice, "Verify your email", "Open http://127.0.0.1:3000/verify-email#token=abc")
        self.send(bob, "Reset your password", "Open http://127.0.0.1:3000/reset-password#token=def")

        listed = [m for m in self.mail() if m["to"][0] in (alice, bob)]

        self.assertEqual([m["to"] for m in listed], [[alice], [bob]])
        first = listed[0]
        self.assertEqual(set(first), {"id", "from", "to", "subject", "body", "sent_at"})
        self.assertEqual(first["from"], self.sender)
        self.assertEqual(first["subject"], "Verify your email")
        self.assertEqual(first["body"], "Open http://127.0.0.1:3000/verify-email#token=abc")
        self.assertRegex(first["sent_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
        self.assertLessEqual(first["sent_at"], listed[1]["sent_at"])

    def test_given_mail_to_two_addresses_when_filtered_by_one_in_another_case_then_only_its_mail(self):
        carol, dave = f"carol-{uuid.uuid4().hex[:8]}@example.com", f"dave-{uuid.uuid4().hex[:8]}@example.com"
        self.send(carol, "one", "1")
        self.send(dave, "two", "2")
        self.send(carol, "three", "3")

        self.assertEqual([m["subject"] for m in self.mail(to=carol.upper())], ["one", "three"])
        self.assertEqual(self.mail(to=f"nobody-{uuid.uuid4().hex[:8]}@example.com"), [])

    def test_given_an_unverified_sender_when_sending_then_rejected_and_nothing_listed(self):
        before = len(self.mail())
        with self.assertRaises(ClientError) as raised:
            self.ses.send_email(
                FromEmailAddress="stranger@elsewhere.example",
                Destination={"ToAddresses": ["someone@example.com"]},
                Content={"Simple": {"Subject": {"Data": "x"}, "Body": {"Text": {"Data": "x"}}}},
            )
        self.assertEqual(raised.exception.response["Error"]["Code"], "MessageRejected")
        self.assertEqual(len(self.mail()), before)

    def test_given_a_post_when_sent_to_the_mailbox_then_405(self):
        request = urllib.request.Request(f"{self.endpoint}/_ballot/mail", data=b"{}", method="POST")
        with self.assertRaises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(request)
        self.assertEqual(raised.exception.code, 405)


if __name__ == "__main__":
    unittest.main()
