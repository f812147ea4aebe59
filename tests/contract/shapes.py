"""Answers the random cases of schemathesis rarely reach, checked against
docs/openapi.yaml: a tweet with a mention, a hashtag and a URL, its edit,
history, replies, likes and reposts; a quote, and the quote of a deleted
tweet; a reply to a deleted tweet; images (uploads, a tweet of two, an
avatar); a home feed holding a repost; notifications of every kind; tag
pages, trends, suggestions, both searches, profiles and their lists; the
password change, ending the other sessions, logging out.

    python3 tests/contract/shapes.py BASE_URL OPENAPI_YAML

Each answer's body is validated (JSON Schema 2020-12, jsonschema_rs,
which schemathesis brings) against the schema the contract gives its
operation and status; exits 1 on any answer that does not conform, on a
status the contract does not list, or when the answers lack what they
are here for (a notification of each kind, a repost in the feed, a quote
both available and not, a tweet with images). It first proves that its
validator refuses bodies the contract does not allow.
"""
import secrets
import struct
import sys
import zlib

import jsonschema_rs
import requests
import yaml

JSON = {"Content-Type": "application/json"}


class Contract:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.doc = yaml.safe_load(f)
        self.failures = []
        self.checked = 0

    def _resolve(self, node):
        while isinstance(node, dict) and set(node) == {"$ref"}:
            cur = self.doc
            for part in node["$ref"][2:].split("/"):
                cur = cur[part.replace("~1", "/").replace("~0", "~")]
            node = cur
        return node

    def validator(self, schema):
        root = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.doc["components"],
            "allOf": [schema],
        }
        return jsonschema_rs.validator_for(root)

    def check(self, method, template, answer):
        """The answer's JSON body, after checking it against the contract."""
        self.checked += 1
        where = f"{method} {template} -> {answer.status_code}"
        responses = self.doc["paths"][template][method.lower()]["responses"]
        response = responses.get(str(answer.status_code))
        if response is None:
            self.failures.append(f"{where}: a status the contract does not list")
            return {}
        schema = self._resolve(response)["content"]["application/json"]["schema"]
        try:
            body = answer.json()
        except ValueError:
            self.failures.append(f"{where}: not JSON")
            return {}
        for error in self.validator(schema).iter_errors(body):
            self.failures.append(f"{where}: {str(error)[:400]}")
        return body if isinstance(body, dict) else {}


def png(width, height):
    """A red PNG of width x height."""
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))

    def chunk(kind, data):
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def self_test(contract):
    """True when the validator refuses what the contract does not allow."""
    page = contract.validator({"$ref": "#/components/schemas/TweetPage"})
    return (
        page.is_valid({"items": [], "next": None})
        and not page.is_valid({"items": [], "next": None, "extra": 1})
        and not page.is_valid({"items": [{"id": "x"}], "next": None})
    )


def run(base, contract):
    """Makes and checks the answers; what they lacked (empty: nothing)."""
    c = contract.check

    def user(prefix):
        s = requests.Session()
        name = prefix + secrets.token_hex(6)
        password = "shapes of answers " + name
        credentials = {"username": name, "password": password}
        c("POST", "/api/register", s.post(base + "/api/register", json=credentials))
        return s, name, password

    a, an, apw = user("shape_a")
    b, bn, _ = user("shape_b")
    text = f"hello @{bn} #Shapes https://example.com/x"
    t = c("POST", "/api/tweet", a.post(base + "/api/tweet", json={"text": text})).get("id")
    c("POST", "/api/users/{name}/follow", b.post(base + f"/api/users/{an}/follow", headers=JSON))
    c("POST", "/api/tweet/{id}/like", b.post(base + f"/api/tweet/{t}/like", headers=JSON))
    c("POST", "/api/tweet/{id}/repost", b.post(base + f"/api/tweet/{t}/repost", headers=JSON))
    quoting = {"text": "a quote", "quote_of": t}
    q = c("POST", "/api/tweet", b.post(base + "/api/tweet", json=quoting)).get("id")
    replying = {"text": "a reply", "reply_to": t}
    r = c("POST", "/api/tweet", b.post(base + "/api/tweet", json=replying)).get("id")
    edit = {"text": "hello, edited #Shapes"}
    c("PUT", "/api/tweet/{id}", a.put(base + f"/api/tweet/{t}", json=edit))
    uploads = []
    for i, (w, h) in enumerate([(2, 2), (3, 2), (4, 4)]):
        files = {"file": (f"{i}.png", png(w, h), "image/png")}
        data = {"alt": "red"} if i == 0 else {}
        upload = a.post(base + "/api/media", files=files, data=data)
        uploads.append(c("POST", "/api/media", upload).get("id"))
    media = {"media": [uploads[0], {"id": uploads[1], "alt": "the second"}]}
    tm = c("POST", "/api/tweet", a.post(base + "/api/tweet", json=media)).get("id")
    patch = {"display_name": "Shape", "bio": "a bio", "avatar": uploads[2], "header": None}
    c("PATCH", "/api/me", a.patch(base + "/api/me", json=patch))
    c("GET", "/api/me", a.get(base + "/api/me"))
    quote = c("GET", "/api/tweet/{id}", b.get(base + f"/api/tweet/{q}"))
    c("GET", "/api/tweet/{id}", b.get(base + f"/api/tweet/{r}"))
    with_media = c("GET", "/api/tweet/{id}", b.get(base + f"/api/tweet/{tm}"))
    c("GET", "/api/tweet/{id}/history", b.get(base + f"/api/tweet/{t}/history"))
    c("GET", "/api/tweet/{id}/replies", b.get(base + f"/api/tweet/{t}/replies"))
    feed = c("GET", "/api/feed", b.get(base + "/api/feed"))
    c("GET", "/api/tweet", b.get(base + "/api/tweet?limit=5"))
    notes = c("GET", "/api/notifications", a.get(base + "/api/notifications"))
    mentioned = c("GET", "/api/notifications", b.get(base + "/api/notifications"))
    c("POST", "/api/notifications/read", a.post(base + "/api/notifications/read", headers=JSON))
    c("GET", "/api/tags/{tag}", b.get(base + "/api/tags/shapes"))
    c("GET", "/api/trends", b.get(base + "/api/trends"))
    c("GET", "/api/suggestions", requests.get(base + "/api/suggestions"))
    c("GET", "/api/search", b.get(base + "/api/search", params={"q": "hello"}))
    c("GET", "/api/search", b.get(base + "/api/search", params={"q": an[:8], "type": "users"}))
    c("GET", "/api/users/{name}", b.get(base + f"/api/users/{an}"))
    c("GET", "/api/users/{name}/tweets", b.get(base + f"/api/users/{an}/tweets"))
    c("GET", "/api/users/{name}/followers", b.get(base + f"/api/users/{an}/followers"))
    c("GET", "/api/users/{name}/following", b.get(base + f"/api/users/{bn}/following"))
    c("DELETE", "/api/tweet/{id}/repost", b.delete(base + f"/api/tweet/{t}/repost"))
    c("DELETE", "/api/tweet/{id}/like", b.delete(base + f"/api/tweet/{t}/like"))
    c("DELETE", "/api/tweet/{id}", a.delete(base + f"/api/tweet/{t}"))
    gone = c("GET", "/api/tweet/{id}", b.get(base + f"/api/tweet/{q}"))
    c("GET", "/api/tweet/{id}", b.get(base + f"/api/tweet/{r}"))
    password = {"current_password": apw, "new_password": "another password " + an}
    c("PUT", "/api/me/password", a.put(base + "/api/me/password", json=password))
    c("DELETE", "/api/me/sessions", a.delete(base + "/api/me/sessions"))
    c("DELETE", "/api/users/{name}/follow", b.delete(base + f"/api/users/{an}/follow"))
    c("GET", "/api/config", requests.get(base + "/api/config"))
    c("DELETE", "/api/login", b.delete(base + "/api/login"))

    missing = []
    kinds = {n.get("type") for n in notes.get("items", []) + mentioned.get("items", [])}
    for kind in ("follow", "like", "reply", "mention", "repost", "quote"):
        if kind not in kinds:
            missing.append(f"no {kind} notification")
    if not any(item.get("reposted_by") for item in feed.get("items", [])):
        missing.append("no repost in the home feed")
    if not (quote.get("quote") or {}).get("available"):
        missing.append("no available quote")
    if (gone.get("quote") or {}).get("available") is not False:
        missing.append("no quote of a deleted tweet")
    if len(with_media.get("media", [])) != 2:
        missing.append("no tweet with two images")
    return missing


def main(argv):
    if len(argv) != 3:
        print("usage: shapes.py BASE_URL OPENAPI_YAML", file=sys.stderr)
        return 2
    contract = Contract(argv[2])
    if not self_test(contract):
        print("shapes: the validator takes bodies the contract refuses", file=sys.stderr)
        return 1
    missing = run(argv[1].rstrip("/"), contract)
    for failure in contract.failures:
        print(f"shapes: {failure}", file=sys.stderr)
    for m in missing:
        print(f"shapes: {m}", file=sys.stderr)
    if contract.failures or missing:
        return 1
    print(f"shapes: {contract.checked} answers of {argv[1]} as the contract says")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
