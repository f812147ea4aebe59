"""schemathesis hooks of integration.test_openapi (tests/contract/README.md).

A browser's cookie jar for the session. schemathesis drops the cookies of
an answer before its next request, OpenAPI links carry values from the
answer before only (register or log in -> post: the session cookie; post
-> read, edit, like, delete: the tweet id), and for every operation that
needs a session schemathesis makes up a `chorus_session` value of its own,
which no server issued (so, without the jar, every such operation answers
only 401). So:

- the session a register or a login answered with (Set-Cookie:
  chorus_session=...) is sent with every later request, as a browser
  would, until a logout clears it, in place of a made-up value; a value of
  a real session's shape (43 characters of base64url, what a link takes
  from a Set-Cookie) is kept;
- while no register or login of the run has set one (at the start, after
  a logout), the session of an account of the hooks' own is sent: they
  register it on the server under test when first needed, and log it in
  again after a logout ended its session; so the operations that need a
  session answer as they do for a user, not only 401;
- a request about a tweet the run posted (/api/tweet/{id}...) is sent with
  the session that posted it, as its author's browser would: the sequence
  register -> log in -> post -> read -> edit -> like -> delete acts as one
  user even when other sequences registered other users in between.

With CHORUS_CONTRACT_TRACE set, every answer is also written to that file,
one JSON object a line, for tests/contract/sequence.py to check that the
stateful phase walked the whole sequence through the links.
"""
import json
import os
import re
import secrets
import threading

import requests
import schemathesis

_SESSION = re.compile(r"(?:^|[\s,;])chorus_session=([^;,\s]*)")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # 32 random bytes, base64url
_TWEET = re.compile(r"^/api/tweet/\{id\}")
_jar = threading.local()
_authors = {}  # tweet id -> the session that posted it
_home = {}  # base URL -> the hooks' own account: username, password, session
_lock = threading.Lock()
_trace_path = os.environ.get("CHORUS_CONTRACT_TRACE")


def _tweet_id(case):
    if _TWEET.match(case.operation.path):
        value = case.path_parameters.get("id")
        return value if isinstance(value, str) else None
    return None


def _home_session(base_url):
    """The session of the hooks' own account on base_url: registered on
    first use, logged in again once a logout ended it; None when the
    server refused."""
    with _lock:
        home = _home.setdefault(base_url, {})
        if home.get("session"):
            return home["session"]
        path = "/api/login" if home else "/api/register"
        if not home:
            home["username"] = "contract_" + secrets.token_hex(8)
            home["password"] = secrets.token_urlsafe(18)
        credentials = {"username": home["username"], "password": home["password"]}
        answer = requests.post(base_url + path, json=credentials, timeout=10)
        match = _SESSION.search(answer.headers.get("Set-Cookie", ""))
        if answer.status_code in (200, 201) and match and match.group(1):
            home["session"] = match.group(1)
        return home.get("session")


def _forget_home_session(session):
    with _lock:
        for home in _home.values():
            if home.get("session") == session:
                home["session"] = None


@schemathesis.hook
def before_call(context, case, kwargs):
    cookies = dict(case.cookies or {})
    with _lock:
        author = _authors.get(_tweet_id(case))
    own = cookies.get("chorus_session")
    # Where the session sent comes from, for the trace: "author", "case"
    # (a link's), "jar" (the last register or login), "home" or none.
    source = None
    if author:
        cookies["chorus_session"], source = author, "author"
    elif isinstance(own, str) and _TOKEN.match(own):
        source = "case"
    else:
        token, source = getattr(_jar, "session", None), "jar"
        if not token:
            token = _home_session(case.operation.schema.get_base_url())
            source = "home"
        if token:
            cookies["chorus_session"] = token
        else:
            cookies.pop("chorus_session", None)
            source = None
    _jar.source = source
    case.cookies = cookies


def _trace(case, response, session, set_session):
    phase = case._meta.phase.name.value if case._meta else None
    body = case.body if isinstance(case.body, dict) else {}
    record = {
        "phase": phase,
        "operation": f"{case.method.upper()} {case.operation.path}",
        "status": response.status_code,
        "session": session,
        "session_from": getattr(_jar, "source", None),
        "tweet": _tweet_id(case),
        "username": body.get("username") if isinstance(body.get("username"), str) else None,
        "set_session": set_session,
    }
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if isinstance(answer, dict) and isinstance(answer.get("id"), str):
        record["created"] = answer["id"]
    with _lock, open(_trace_path, "a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")


@schemathesis.hook
def after_call(context, case, response):
    session = (case.cookies or {}).get("chorus_session")
    if (
        case.method.upper() == "POST"
        and case.operation.path == "/api/tweet"
        and response.status_code == 201
        and session
    ):
        try:
            tweet = response.json().get("id")
        except (ValueError, AttributeError):
            tweet = None
        if isinstance(tweet, str):
            with _lock:
                _authors[tweet] = session
    set_session = None
    for value in response.headers.get("set-cookie", []):
        match = _SESSION.search(value)
        if match:
            # An empty value is a logout's: the jar forgets the session.
            set_session = match.group(1)
            _jar.session = set_session or None
            if not set_session and session:
                _forget_home_session(session)  # a logout
    if _trace_path:
        _trace(case, response, session, set_session)
