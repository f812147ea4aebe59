"""Checks that schemathesis's stateful phase took every step of the
sequence register -> log in -> post -> read -> edit -> like -> delete
through the contract's links, from the answers tests/contract/hooks.py
wrote to its trace (CHORUS_CONTRACT_TRACE: one JSON object a line).

    python3 tests/contract/sequence.py TRACE...
    python3 tests/contract/sequence.py --self-test

Exits 0 when, in the stateful phase,
  - an account was registered (201) and that account then logged in
    (200: the LogIn link sends the register's body again);
  - a tweet was posted (201) with a session that a register or a login of
    the phase set, which the request itself carried: the PostTweet link
    takes it from their Set-Cookie (hooks.py's jar would give one too, and
    says so: "session_from");
  - tweets the phase posted were read (GET 200), edited (PUT 200), liked
    (POST .../like 200) and deleted (DELETE 200): requests that name their
    ids, which only the links carry (no generated id names a tweet the run
    posted).
Each step must succeed at least once, not necessarily all of them on one
tweet nor on one server (the traces of both servers' runs count
together): schemathesis walks the links at random, and one walk that
takes them all in order is too rare to wait for.  Else exits 1, saying which
step never succeeded.  --self-test runs the check on made-up traces first:
one with every step passes, and each with one step taken away fails.
"""
import json
import sys

STEPS = [
    ("read", "GET /api/tweet/{id}"),
    ("edit", "PUT /api/tweet/{id}"),
    ("like", "POST /api/tweet/{id}/like"),
    ("delete", "DELETE /api/tweet/{id}"),
]
SESSION_SETTERS = ("POST /api/register", "POST /api/login")


def count(records):
    """How many times each step of the sequence succeeded in the stateful
    phase of one trace: {"register": n, "log in": n, "post": n, "read": n,
    ...}."""
    registered = set()
    sessions = set()  # set by a register or a login of the phase
    posted = set()
    counts = {"register": 0, "log in": 0, "post": 0}
    counts.update((name, 0) for name, _ in STEPS)
    for r in records:
        if r.get("phase") != "stateful":
            continue
        op, status = r.get("operation"), r.get("status")
        if op == "POST /api/register" and status == 201:
            registered.add(r.get("username"))
            counts["register"] += 1
        elif op == "POST /api/login" and status == 200:
            counts["log in"] += r.get("username") in registered
        elif op == "POST /api/tweet" and status == 201 and r.get("created"):
            posted.add(r["created"])
            if r.get("session") in sessions and r.get("session_from") == "case":
                counts["post"] += 1
        for name, step in STEPS:
            if op == step and status == 200 and r.get("tweet") in posted:
                counts[name] += 1
        if op in SESSION_SETTERS and r.get("set_session"):
            sessions.add(r["set_session"])
    return counts


WHAT = {
    "register": "no account was registered (201)",
    "log in": "no registered account logged in (200)",
    "post": "no tweet was posted (201) with the session of a register or a "
    "login that the PostTweet link carried",
}
WHAT.update((name, f"no {step} answered 200 for a tweet the phase posted") for name, step in STEPS)


def check(records):
    """The steps of the sequence that never succeeded (empty: all did)."""
    return [f"{name}: {WHAT[name]}" for name, n in count(records).items() if n == 0]


def check_all(traces):
    """The steps that never succeeded in any of the traces (each a list of
    records): ids and sessions of one server's run mean nothing in
    another's, so each trace is checked alone, and a step counts once it
    was taken in any."""
    missing = None
    for records in traces:
        left = set(check(records))
        missing = left if missing is None else missing & left
    return sorted(missing or [])


def _made_up_trace():
    """A stateful phase that took every step once."""
    s1, s2, t = "R" * 43, "L" * 43, "6b134b6202bb6e2e5f005bd2"

    def rec(op, status, **kw):
        return {"phase": "stateful", "operation": op, "status": status, **kw}

    return [
        rec("POST /api/register", 201, username="u1", set_session=s1),
        rec("POST /api/login", 200, username="u1", session=s1, set_session=s2),
        rec("POST /api/tweet", 201, session=s2, session_from="case", created=t),
        rec("GET /api/tweet/{id}", 200, tweet=t),
        rec("PUT /api/tweet/{id}", 200, tweet=t),
        rec("POST /api/tweet/{id}/like", 200, tweet=t),
        rec("DELETE /api/tweet/{id}", 200, tweet=t),
    ]


def self_test():
    """True when the check passes the whole made-up trace and fails it
    with any one step taken away or broken."""
    whole = _made_up_trace()
    if check(whole):
        return False
    for i in range(len(whole)):
        without = whole[:i] + whole[i + 1 :]
        failed = [dict(r) for r in whole]
        failed[i]["status"] = 404
        other_phase = [dict(r) for r in whole]
        other_phase[i]["phase"] = "fuzzing"
        if not check(without) or not check(failed) or not check(other_phase):
            return False
    # A tweet posted without a session of the phase, or with one the jar
    # gave and not the link, is not the post step.
    stranger = [dict(r) for r in whole]
    stranger[2]["session"] = "S" * 43
    from_jar = [dict(r) for r in whole]
    from_jar[2]["session_from"] = "jar"
    if not check(stranger) or not check(from_jar):
        return False
    # Two traces: steps taken in either count, and a step taken in neither
    # is missing even when each trace lacks something else.
    no_edit = [r for r in whole if r["operation"] != "PUT /api/tweet/{id}"]
    no_post = [r for r in whole if r["operation"] != "POST /api/tweet"]
    no_like = [r for r in whole if r["operation"] != "POST /api/tweet/{id}/like"]
    return (
        not check_all([no_edit, whole])
        and not check_all([no_edit, no_like])
        and check_all([no_edit, no_post]) == [
            "edit: no PUT /api/tweet/{id} answered 200 for a tweet the phase posted"
        ]
    )


def main(argv):
    if argv[1:] == ["--self-test"]:
        if not self_test():
            print("sequence.py: the check does not catch a missing step", file=sys.stderr)
            return 1
        return 0
    if len(argv) < 2:
        print("usage: sequence.py TRACE...", file=sys.stderr)
        return 2
    traces = []
    for path in argv[1:]:
        with open(path, encoding="utf-8") as f:
            traces.append([json.loads(line) for line in f if line.strip()])
    missing = check_all(traces)
    for m in missing:
        print(f"stateful sequence: {m}", file=sys.stderr)
    for path, records in zip(argv[1:], traces):
        taken = ", ".join(f"{name} {n}" for name, n in count(records).items())
        print(f"stateful sequence in {path}: {taken}")
    if missing:
        return 1
    print("stateful sequence: register, log in, post, read, edit, like, delete: each taken")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
