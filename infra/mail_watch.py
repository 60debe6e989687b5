"""Prints the mail the local stack sends, as it arrives: `make dev` runs it on its console.

Every 2 s it reads GET <endpoint>/_ballot/mail (infra/moto_server.py's mailbox: the mail
moto's SES accepted, oldest first) and prints each message it has not printed yet: its
recipients, subject and body. Mail already there at its first read was sent before this
run (a moto left running) and is not printed. It writes to stdout only, never to a log
file, since the bodies hold one-time links. It ends, with a line saying why, when the
endpoint has no mailbox (LocalStack, a plain moto) or has not answered for 10 s.

Usage: python3 infra/mail_watch.py http://127.0.0.1:4566. Standard library only.
"""

import json
import sys
import time
import urllib.error
import urllib.request

INTERVAL_SECONDS = 2
UNANSWERED_READS = 6  # reads in a row without an answer before it ends: 10 s of them
# The endpoint is on this machine: no HTTP(S)_PROXY of the environment applies.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def read_mail(endpoint):
    """The mailbox's messages; None when the endpoint has none (it answers 404)."""
    try:
        with OPENER.open(f"{endpoint}/_ballot/mail", timeout=5) as response:
            return json.load(response)["messages"]
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def show(message):
    print(f"==> mail to {', '.join(message['to'])}: {message['subject']}")
    for line in message["body"].splitlines():
        print(f"    {line}" if line else "")
    print(flush=True)


def main(endpoint):
    endpoint = endpoint.rstrip("/")
    seen = None  # ids of the messages printed or there at the first read
    unanswered = 0
    while True:
        try:
            messages = read_mail(endpoint)
            unanswered = 0
        except (OSError, ValueError, KeyError):  # refused, timed out, or not the mailbox's JSON
            unanswered += 1
            if unanswered >= UNANSWERED_READS:
                print(f"mail: {endpoint} has not answered for 10 s; no longer showing mail", flush=True)
                return
            time.sleep(INTERVAL_SECONDS)
            continue
        if messages is None:
            print(f"mail: {endpoint} has no /_ballot/mail (not infra/moto_server.py); sent mail is not shown", flush=True)
            return
        if seen is None:
            seen = {message["id"] for message in messages}
        for message in messages:
            if message["id"] not in seen:
                seen.add(message["id"])
                show(message)
        time.sleep(INTERVAL_SECONDS)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python3 infra/mail_watch.py <AWS endpoint URL>")
    try:
        main(sys.argv[1])
    except (KeyboardInterrupt, BrokenPipeError):
        pass
