"""How the Python test scripts report: one line per check ("ok" or "FAIL" and what was
expected), the failures kept in FAILS for the script's exit status."""

FAILS = []


def check(cond, msg):
    print(("ok    " if cond else "FAIL  ") + msg, flush=True)
    if not cond:
        FAILS.append(msg)
    return cond
