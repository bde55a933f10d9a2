#!/usr/bin/env python3
"""Every operation of /openapi.yaml, called with real data on a live server, each answer checked against the
document (openapi-core, from PyPI). The feed's webhook points at a receiver run here that verifies every message
with the `standardwebhooks` package (PyPI), an implementation of the scheme nobody here wrote. Schemathesis (scripts/schemathesis.sh) fuzzes every operation, but most of its
requests are refused or miss: a ticket, a label or a model version must exist before their routes answer 2xx. This
walks the product's own paths so that every operation gives at least one successful answer, and every answer on the
way (errors included) must match what the document says of that status. Exits non-zero on any mismatch or on an
operation without a checked success.

    python3 scripts/contract.py --url http://127.0.0.1:PORT --admin KEY --feed KEY --moderator KEY --model FILE
"""
import argparse
import http.server
import json
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from standardwebhooks import Webhook

ap = argparse.ArgumentParser()
ap.add_argument("--url", required=True)
ap.add_argument("--admin", required=True)
ap.add_argument("--feed", required=True)
ap.add_argument("--moderator", required=True, help="a moderator key that may work tiers 1 and 2")
ap.add_argument("--model", required=True, help="the model file the server started with")
ap.add_argument("--spec", default="Sources/Server/openapi.yaml")
args = ap.parse_args()

import yaml  # PyYAML, which openapi-core needs itself

with open(args.spec) as f:
    document = yaml.safe_load(f)
document["servers"] = [{"url": args.url}]  # the live server under test
# Text answers (the document itself, Prometheus metrics) are read as text.
text = {t: (lambda b, **_: b.decode() if isinstance(b, bytes) else b)
        for t in ("application/yaml", "text/plain; version=0.0.4", "text/csv", "text/csv; charset=utf-8")}
spec = OpenAPI.from_dict(document, config=Config(extra_media_type_deserializers=text))
operations = set()  # (method, path pattern) from the document
for path, item in document["paths"].items():
    for method in ("get", "put", "post", "patch", "delete"):
        if method in item:
            operations.add((method.upper(), path))
succeeded = set()
failures = []


def call(method, path, pattern, key, body=None, content_type="application/json", expect=None):
    """One request; its answer is validated against the document. Returns (status, parsed JSON or text)."""
    data = None
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers["Content-Type"] = content_type
    request = urllib.request.Request(args.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            status, raw, answer_type = answer.status, answer.read(), answer.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        status, raw, answer_type = error.code, error.read(), error.headers.get("Content-Type", "")
    query = {}
    bare = path
    if "?" in path:
        bare, q = path.split("?", 1)
        query = dict(part.split("=", 1) for part in q.split("&"))
    mock_request = MockRequest(args.url, method.lower(), bare, path_pattern=pattern, args=query, headers=headers,
                               data=data, content_type=headers.get("Content-Type", "application/json"))
    mock_response = MockResponse(raw, status_code=status, content_type=answer_type)
    where = f"{method} {path} → {status}"
    try:
        spec.validate_response(mock_request, mock_response)
    except Exception as error:  # the validator's errors name the schema path
        causes = getattr(error, "__cause__", None)
        failures.append(f"{where}: the answer does not match the document: {error} {causes or ''}\n    {raw[:300]!r}")
    if expect is not None and status != expect:
        failures.append(f"{where}: expected {expect}: {raw[:300]!r}")
    if 200 <= status < 300:
        succeeded.add((method, pattern))
    try:
        parsed = json.loads(raw) if raw and answer_type.startswith("application/json") else raw.decode()
    except ValueError:
        parsed = raw
    return status, parsed


F = "contract"
admin, feed, mod = args.admin, args.feed, args.moderator

# Operations
call("GET", "/health", "/health", None, expect=200)
call("GET", "/ready", "/ready", None, expect=200)
call("GET", "/openapi.yaml", "/openapi.yaml", None, expect=200)
call("GET", "/metrics", "/metrics", feed, expect=200)

# Policies: every class to review, so that items open tickets.
_, policy = call("GET", f"/v1/policies/{F}", "/v1/policies/{feed}", admin, expect=200)
classes = sorted(policy["policy"]["rules"].keys())
call("PUT", f"/v1/policies/{F}", "/v1/policies/{feed}", admin, {"rules": {c: {"review": 0} for c in classes}}, expect=200)
call("PATCH", f"/v1/policies/{F}", "/v1/policies/{feed}", admin, {"reviewThinRemovals": False}, "application/merge-patch+json", expect=200)
call("PUT", f"/v1/policies/{F}", "/v1/policies/{feed}", admin, {"rules": {"nonsense": {"review": 2}}}, expect=422)

# A webhook receiver for the feed: every message verified with standardwebhooks.
hook = {"secret": None, "messages": [], "tests": 0, "refused": []}


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            message = Webhook(hook["secret"]).verify(body, dict(self.headers.items()))
        except Exception as error:
            hook["refused"].append(f"{error}")
            self.send_response(401)
            self.end_headers()
            return
        if message["type"] == "webhook.test":
            hook["tests"] += 1
        else:
            hook["messages"].append(message)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_):
        pass


receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=receiver.serve_forever, daemon=True).start()
hook_url = f"http://127.0.0.1:{receiver.server_address[1]}/winnow"


def set_hook(hooked):
    """Points `hooked`'s webhook at the receiver (decisions and retraining steps); returns the event it starts after."""
    newest, more = 0, True
    while more:
        _, changes = call("GET", f"/v1/changes?feed={hooked}&after={newest}&limit=1000&retraining=true", "/v1/changes", feed, expect=200)
        newest, more = changes["next"], changes["more"]
    _, webhook = call("PUT", f"/v1/feeds/{hooked}/webhook", "/v1/feeds/{feed}/webhook", admin,
                      {"url": hook_url, "events": ["engagement", "rescore", "review", "appeal", "undo", "correction", "withdrawal", "retraining"]})
    hook["secret"] = webhook["secret"]
    call("GET", f"/v1/feeds/{hooked}/webhook", "/v1/feeds/{feed}/webhook", admin, expect=200)
    _, tested = call("POST", f"/v1/feeds/{hooked}/webhook/test", "/v1/feeds/{feed}/webhook/test", admin, expect=200)
    if not tested.get("delivered") or hook["tests"] != 1:
        failures.append(f"webhook test: not verified by standardwebhooks: {tested} {hook['refused']}")
    call("PUT", f"/v1/feeds/{hooked}/webhook", "/v1/feeds/{feed}/webhook", admin, {"url": "gopher://x"}, expect=422)
    # Where the webhook starts: the newest event when it was set (a retraining pass the fuzzing started may have
    # written a step since the read above).
    return max(newest, webhook.get("delivery", {}).get("deliveredThrough", newest))


# Items
for i in range(8):
    call("POST", "/v1/items", "/v1/items", feed,
         {"id": f"c{i}", "feed": F, "text": f"WIN a free prize now, call 0906 {i}", "language": "en",
          "author": {"id": f"u{i}", "followers": 10 * i}, "createdAt": "2026-12-01T00:00:00Z"}, expect=201)
call("POST", "/v1/items", "/v1/items", feed, {"id": "c0", "feed": F, "text": "other text"}, expect=409)
call("POST", "/v1/items", "/v1/items", feed, {"id": "x", "autor": {}}, expect=422)
call("POST", "/v1/items:batch", "/v1/items:batch", feed,
     {"items": [{"id": "b1", "feed": F, "text": "see you at lunch"}, {"id": "b2", "feed": F, "text": ""}]}, expect=200)
call("GET", f"/v1/items/c0?feed={F}", "/v1/items/{id}", feed, expect=200)
call("GET", f"/v1/items/nothing?feed={F}", "/v1/items/{id}", feed, expect=404)
call("POST", f"/v1/items/c1/engagement?feed={F}", "/v1/items/{id}/engagement", feed,
     {"views": 150, "likes": 3, "shares": 1, "comments": 0, "reports": 0, "hides": 0}, expect=200)
call("POST", f"/v1/items/c2/reports?feed={F}", "/v1/items/{id}/reports", feed, {"reporter": "user-9"}, expect=200)
call("POST", "/v1/rank", "/v1/rank", feed, {"feed": F, "items": ["c0", "c1", "b1", "missing"]}, expect=200)

# Review: claim, look, decide, take back, decide again.
_, claimed = call("POST", "/v1/review/claim", "/v1/review/claim", mod, {"tiers": [1], "languages": ["en"]}, expect=200)
ticket = claimed["tickets"][0]["ticket"]["id"]
# The claimed ticket's feed (the fuzzing before may have left items of other feeds in the queue) gets the webhook.
hooked = claimed["tickets"][0]["item"]["feed"]
start = set_hook(hooked)
label = next(c for c in classes if c != "clear")
call("GET", f"/v1/review/tickets/{ticket}", "/v1/review/tickets/{id}", mod, expect=200)
decision = {"label": label, "reasonCode": "spam"}
call("POST", f"/v1/review/tickets/{ticket}/decision", "/v1/review/tickets/{id}/decision", mod, decision, expect=200)
call("POST", f"/v1/review/tickets/{ticket}/decision", "/v1/review/tickets/{id}/decision", mod, decision, expect=409)
call("POST", f"/v1/review/tickets/{ticket}/undo", "/v1/review/tickets/{id}/undo", mod, expect=200)
call("POST", f"/v1/review/tickets/{ticket}/decision", "/v1/review/tickets/{id}/decision", mod, decision, expect=200)
call("POST", f"/v1/review/tickets/{ticket}/undo", "/v1/review/tickets/{id}/undo", admin, expect=409)
decided = claimed["tickets"][0]["item"]  # the ticket with the best priority: any feed's
decided_path = f"/v1/items/{urllib.parse.quote(decided['id'], safe='')}/appeal?feed={decided['feed']}"
# Release, claim again, renew, escalate.
_, claimed = call("POST", "/v1/review/claim", "/v1/review/claim", mod, {}, expect=200)
other = claimed["tickets"][0]["ticket"]["id"]
call("POST", f"/v1/review/tickets/{other}/release", "/v1/review/tickets/{id}/release", mod, expect=200)
_, claimed = call("POST", "/v1/review/claim", "/v1/review/claim", mod, {"count": 1}, expect=200)
other = claimed["tickets"][0]["ticket"]["id"]
call("POST", f"/v1/review/tickets/{other}/renew", "/v1/review/tickets/{id}/renew", mod, expect=200)
call("POST", f"/v1/review/tickets/{other}/escalate", "/v1/review/tickets/{id}/escalate", mod, {"note": "needs a senior look"}, expect=200)
call("POST", decided_path, "/v1/items/{id}/appeal", feed, {"note": "the author disagrees"}, expect=201)
call("GET", "/v1/review/queue?tier=2&limit=5", "/v1/review/queue", mod, expect=200)
call("GET", "/v1/review/stats", "/v1/review/stats", mod, expect=200)
call("POST", "/v1/review/gold", "/v1/review/gold", admin, {"feed": F, "id": "c7", "label": label}, expect=201)
call("GET", "/v1/stats?since=2026-01-01T00:00:00Z", "/v1/stats", admin, expect=200)

# Labels
_, imported = call("POST", "/v1/labels", "/v1/labels", admin, {"labels": [{"feed": F, "id": "c5", "label": label}, {"feed": F, "id": "c6", "label": "clear"}]}, expect=201)
first, second = (entry["id"] for entry in imported["labels"])
call("GET", "/v1/labels?limit=5", "/v1/labels", admin, expect=200)
call("POST", f"/v1/labels/{first}/withdraw", "/v1/labels/{id}/withdraw", admin, expect=200)
call("POST", f"/v1/labels/{second}/correct", "/v1/labels/{id}/correct", admin, {"label": label}, expect=201)

# Models: the running model's own file, promoted, shadowed, shadow stopped, rolled back.
_, models = call("GET", "/v1/models", "/v1/models", admin, expect=200)
active = models["active"]
with open(args.model, "rb") as f:
    model = f.read()
call("POST", "/v1/models", "/v1/models", admin, model, "application/octet-stream")
call("POST", f"/v1/models/{active}/promote", "/v1/models/{version}/promote", admin, expect=200)
call("POST", f"/v1/models/{active}/shadow", "/v1/models/{version}/shadow", admin, expect=200)
call("DELETE", "/v1/models/shadow", "/v1/models/shadow", admin, expect=200)
call("DELETE", "/v1/models/shadow", "/v1/models/shadow", admin, expect=404)
call("POST", "/v1/models/rollback", "/v1/models/rollback", admin)
# A feed's own model (the active file under another feed), then back to the shared one.
call("POST", f"/v1/models/{active}/promote?feed={F}", "/v1/models/{version}/promote", admin, expect=200)
_, listed = call("GET", "/v1/models", "/v1/models", admin, expect=200)
if listed.get("feeds", {}).get(F) != active:
    failures.append(f"GET /v1/models: feed {F} should list its own model {active}, got {listed.get('feeds')}")
call("POST", f"/v1/models/rollback?feed={F}", "/v1/models/rollback", admin, expect=200)
call("POST", "/v1/models/rollback?feed=Not%20a%20feed", "/v1/models/rollback", admin, expect=422)
# The retraining loop: a pass on demand (none is configured here, so it fails and says why), and its log.
for _ in range(50):
    status, _ = call("POST", "/v1/models/retraining", "/v1/models/retraining", admin)
    if status != 409:  # a pass the fuzzing started may still be running
        break
    time.sleep(0.2)
if status != 202:
    failures.append(f"POST /v1/models/retraining answered {status}, not 202")
call("GET", "/v1/models/retraining?limit=5", "/v1/models/retraining", admin, expect=200)
call("GET", f"/v1/models/retraining?limit=5&feed={F}", "/v1/models/retraining", admin, expect=200)

# Banks: one made, filled with a text, a PDQ hash and a hash list, matched by an item with media, exported, emptied.
bridge = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
call("POST", "/v1/banks", "/v1/banks", admin, {"name": "contract-wave", "label": label, "action": "remove"}, expect=201)
call("PUT", "/v1/banks/contract-wave", "/v1/banks/{bank}", admin, {"label": label, "action": "remove", "feeds": [F], "description": "contract"}, expect=200)
call("GET", "/v1/banks", "/v1/banks", admin, expect=200)
call("GET", "/v1/banks/contract-wave", "/v1/banks/{bank}", admin, expect=200)
_, added = call("POST", "/v1/banks/contract-wave/entries", "/v1/banks/{bank}/entries", admin,
                {"entries": [{"type": "text", "text": "claim your free prize money at the link below today"},
                             {"type": "image", "pdq": bridge, "quality": 95, "note": "the bridge"}]}, expect=201)
call("POST", "/v1/banks/contract-wave/import", "/v1/banks/{bank}/import", admin,
     f"hash,quality\n{'0' * 63 + '1'},90\n".encode(), "text/csv", expect=201)
call("POST", "/v1/banks/contract-wave/import", "/v1/banks/{bank}/import", admin,
     f"hash,quality\n{'0' * 63 + '1'},90\n".encode(), "text/csv", expect=200)  # the same list again: nothing new
status, matched = call("POST", "/v1/items", "/v1/items", feed,
                       {"id": "banked-1", "feed": F, "text": "a photo of a bridge at dusk", "media": [{"type": "image", "pdq": bridge, "quality": 90}]},
                       expect=201)
if status == 201 and matched.get("match", {}).get("bank") != "contract-wave":
    failures.append(f"POST /v1/items: an item whose image is in bank contract-wave was not matched: {matched}")
call("GET", "/v1/banks/contract-wave/entries?limit=2", "/v1/banks/{bank}/entries", admin, expect=200)
call("GET", "/v1/banks/contract-wave/export", "/v1/banks/{bank}/export", admin, expect=200)
entry = added["entries"][0]["id"]
call("DELETE", f"/v1/banks/contract-wave/entries/{entry}", "/v1/banks/{bank}/entries/{entry}", admin, expect=200)
call("DELETE", "/v1/banks/contract-wave", "/v1/banks/{bank}", admin, expect=200)
call("GET", "/v1/banks/contract-wave", "/v1/banks/{bank}", admin, expect=404)

# Decision events: the decisions above, read from the changes feed, and the same ones delivered to the receiver, in order.
_, changes = call("GET", f"/v1/changes?feed={hooked}&after={start}&limit=1000&retraining=true", "/v1/changes", feed, expect=200)
expected = [event["seq"] for event in changes["events"]]
_, decisions = call("GET", f"/v1/changes?feed={hooked}&after={start}&limit=1000", "/v1/changes", feed, expect=200)
if [e["seq"] for e in decisions["events"]] != [e["seq"] for e in changes["events"] if e.get("type") == "decision.changed"]:
    failures.append("GET /v1/changes without retraining=true should hold the decision events alone")
call("GET", "/v1/changes?limit=5&wait=0.2", "/v1/changes", admin, expect=200)
call("GET", f"/v1/changes?feed={hooked}&after=-1", "/v1/changes", feed, expect=422)
deadline = time.time() + 15
delivered = []
while time.time() < deadline:
    delivered = [event["seq"] for message in hook["messages"] for event in message["data"]["events"]]
    if len(delivered) >= len(expected):
        break
    time.sleep(0.1)
if not expected:
    failures.append("the decisions wrote no decision event")
if delivered != expected:
    failures.append(f"webhook: delivered {delivered}, the changes feed holds {expected}")
if hook["refused"]:
    failures.append(f"webhook: standardwebhooks refused {len(hook['refused'])} message(s): {hook['refused'][:3]}")
# Each message holds events of its own type; the retraining pass started above is among them (the shared model's
# steps are events of every feed).
for message in hook["messages"]:
    types = {event.get("type") for event in message["data"]["events"]}
    if types != {message["type"]}:
        failures.append(f"webhook: a {message['type']} message held events of types {sorted(map(str, types))}")
kinds = [event.get("type") for event in changes["events"]]
if "retraining.step" not in kinds or "decision.changed" not in kinds:
    failures.append(f"GET /v1/changes: expected decision.changed and retraining.step events for feed {hooked}, got {sorted(set(map(str, kinds)))}")
call("GET", "/v1/webhooks", "/v1/webhooks", admin, expect=200)
call("DELETE", f"/v1/feeds/{hooked}/webhook", "/v1/feeds/{feed}/webhook", admin, expect=200)
call("DELETE", f"/v1/feeds/{hooked}/webhook", "/v1/feeds/{feed}/webhook", admin, expect=404)
receiver.shutdown()
print(f"contract: {len(delivered)} events ({kinds.count('decision.changed')} decisions, {kinds.count('retraining.step')} retraining steps) "
      f"delivered in order, in {len(hook['messages'])} messages, to a receiver verifying with standardwebhooks")

missing = sorted(operations - succeeded)
for method, path in missing:
    failures.append(f"{method} {path}: no successful answer was checked")
if failures:
    print(f"contract: {len(failures)} problem(s):", file=sys.stderr)
    for failure in failures:
        print("  " + failure, file=sys.stderr)
    sys.exit(1)
print(f"contract: every one of the {len(operations)} operations answered 2xx at least once; "
      f"every answer on the way matched the document")
