"""schemathesis hooks of integration.test_openapi (tests/contract/README.md).

A browser's cookie jar for the session: schemathesis drops the cookies of
an answer before its next request, and OpenAPI links carry values from the
answer before only (register or log in -> post: the session cookie; post
-> read, edit, like, delete: the tweet id). So the session a register or
a login answered with (Set-Cookie: chorus_session=...) is sent with every
later request that carries no session cookie of its own, as a browser
would, until a logout clears it; the sequence register -> log in -> post
-> read -> edit -> like -> delete then acts as that user. Requests whose
case sets chorus_session (links, negative tests) keep what they set.
"""
import re
import threading

import schemathesis

_SESSION = re.compile(r"(?:^|[\s,;])chorus_session=([^;,\s]*)")
_jar = threading.local()


@schemathesis.hook
def before_call(context, case, kwargs):
    token = getattr(_jar, "session", None)
    cookies = case.cookies or {}
    if token and "chorus_session" not in cookies:
        case.cookies = {**cookies, "chorus_session": token}


@schemathesis.hook
def after_call(context, case, response):
    for value in response.headers.get("set-cookie", []):
        match = _SESSION.search(value)
        if match:
            # An empty value is a logout's: the jar forgets the session.
            _jar.session = match.group(1) or None
