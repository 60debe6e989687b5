"""What the moto tests share: a moto of their own (infra/moto_server.py) on a free port,
started once per test class and stopped after it."""

import os
import socket
import subprocess
import sys
import time
import unittest

SERVER = os.path.join(os.path.dirname(__file__), "..", "moto_server.py")
CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "test", "aws_secret_access_key": "test"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_listening(port, process, seconds=30):
    """Returns once something accepts connections on `port`; fails if moto exits first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"moto did not listen on {port} within {seconds}s")


class MotoTestCase(unittest.TestCase):
    """A test class with its own moto at `cls.endpoint`."""

    @classmethod
    def setUpClass(cls):
        port = free_port()
        cls.moto = subprocess.Popen(
            [sys.executable, SERVER, "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until_listening(port, cls.moto)
        cls.endpoint = f"http://127.0.0.1:{port}"

    @classmethod
    def tearDownClass(cls):
        cls.moto.terminate()
        cls.moto.wait(10)
