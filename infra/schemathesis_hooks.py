"""Schemathesis hooks for ballot's contract test (tests/contract.rs, SCHEMATHESIS_HOOKS).

In the stateful phase, a request that carries a well-formed Idempotency-Key gets a
fresh one, as a client's distinct requests would. Generated keys repeat across requests
(Hypothesis favours small values), and a repeated key replays the first response: the
poll or webhook made then, perhaps deleted since, which the stateful checks would read
as the API losing what it had just created. A malformed key is left as generated (the 400 it earns is checked),
and reusing a key is tested on its own (tests/idempotency.rs). Guest and register
requests get a solved CAPTCHA from the local verifier, as a browser's would carry.

Every request also comes from a loopback address of its own (in 127.10.0.0 to
127.250.255.254, on a fresh connection), as the requests of many users would: the
stack's per-address limits (the web ACL's rate rules, guest tokens, registrations,
failed logins, resets) stay as the other tests check them, and the one fuzzing client
is not refused for being one client. Per-account and per-recipient limits still apply.

And `ast.parse` runs one call at a time: on this machine's CPython (3.11.7) two
concurrent parses can fail with "SystemError: AST constructor recursion depth mismatch"
(it happened in a run of this test), and Hypothesis parses source files to describe its
strategies on both workers' threads.
"""

import ast
import json
import os
import random
import re
import threading
import urllib.request
import uuid

import schemathesis
import urllib3.connection
import urllib3.connectionpool

_parse = ast.parse
_parsing = threading.Lock()


def _parse_alone(*args, **kwargs):
    with _parsing:
        return _parse(*args, **kwargs)


ast.parse = _parse_alone

_init = urllib3.connection.HTTPConnection.__init__
_put_conn = urllib3.connectionpool.HTTPConnectionPool._put_conn


# A source of its own: Hypothesis seeds the `random` module for each test case, which
# would give every case the same few addresses.
_addresses = random.SystemRandom()


def _from_a_fresh_address(self, host, *args, **kwargs):
    if host in ("127.0.0.1", "localhost"):
        pick = _addresses.randint
        address = f"127.{pick(10, 250)}.{pick(0, 255)}.{pick(1, 254)}"
        kwargs["source_address"] = (address, 0)
    _init(self, host, *args, **kwargs)


def _close_instead_of_reuse(self, conn):
    if conn is not None:
        conn.close()
    _put_conn(self, None)


urllib3.connection.HTTPConnection.__init__ = _from_a_fresh_address
urllib3.connectionpool.HTTPConnectionPool._put_conn = _close_instead_of_reuse

WELL_FORMED = re.compile(r"^[!-~]{1,255}$")

# The local CAPTCHA verifier (make test starts it): a solved token for each request.
CAPTCHA_URL = os.environ.get("BALLOT_CAPTCHA_URL")
CAPTCHA_PATHS = {"/v1/auth/guest", "/v1/auth/register"}


def _solved_captcha():
    request = urllib.request.Request(f"{CAPTCHA_URL}/token", method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)["token"]


@schemathesis.hook
def before_call(context, case, kwargs):
    # Guest tokens and registrations want a solved CAPTCHA where the stack checks them: a
    # Captcha-Token that is missing or of a valid shape gets a real one, so these routes'
    # rules are reached; a malformed one stays as generated (its 400/403 is checked).
    if CAPTCHA_URL and case.operation.path in CAPTCHA_PATHS:
        headers = case.headers if case.headers is not None else {}
        name = next((k for k in headers if k.lower() == "captcha-token"), "Captcha-Token")
        value = headers.get(name)
        if value is None or (isinstance(value, str) and 1 <= len(value) <= 2048):
            headers[name] = _solved_captcha()
            case.headers = headers
    # Idempotency keys only in the stateful phase, where the chains are: the other phases'
    # cases carry metadata (a header they left out on purpose) that an edit here would reset.
    meta = getattr(case, "_meta", None)
    phase = getattr(getattr(meta, "phase", None), "name", None)
    if getattr(phase, "value", phase) != "stateful":
        return
    for name, value in list((case.headers or {}).items()):
        if name.lower() == "idempotency-key" and isinstance(value, str) and WELL_FORMED.match(value):
            case.headers[name] = str(uuid.uuid4())
