"""Schemathesis hooks for ballot's contract test (tests/contract.rs, SCHEMATHESIS_HOOKS).

In the stateful phase, a request that carries a well-formed Idempotency-Key gets a
fresh one, as a client's distinct requests would. Generated keys repeat across requests
(Hypothesis favours small values), and a repeated key replays the first response: the
poll or webhook made then, perhaps deleted since, which the stateful checks would read
as the API losing what it had just created. A malformed key is left as generated (the 400 it earns is checked),
and reusing a key is tested on its own (tests/idempotency.rs).
"""

import re
import uuid

import schemathesis

WELL_FORMED = re.compile(r"^[!-~]{1,255}$")


@schemathesis.hook
def before_call(context, case, kwargs):
    # Only in the stateful phase, where the chains are: the other phases' cases carry
    # metadata (a header they left out on purpose) that an edit here would reset.
    meta = getattr(case, "_meta", None)
    phase = getattr(getattr(meta, "phase", None), "name", None)
    if getattr(phase, "value", phase) != "stateful":
        return
    for name, value in list((case.headers or {}).items()):
        if name.lower() == "idempotency-key" and isinstance(value, str) and WELL_FORMED.match(value):
            case.headers[name] = str(uuid.uuid4())
