#!/usr/bin/env python3
"""Latency of `POST /v1/review/claim` through HTTP with and without the wave lookup (issue 21).

Starts `winnow serve` (release build) on a fresh SQLite file with a policy that sends every item to review, posts
ITEMS items (a fifth of them near-copies of another, so some claims find waves), then claims one ticket and decides
it (without its wave), ROUNDS times, as one moderator: p50 and p99 of the claim alone. Run twice: with text matching on (the default: each
claim reads the first 500 tickets of its tier and their items and signs their texts) and with
`engine.banks.matchText` false (no media either, so no wave is looked up): the difference is the lookup's cost.

    python3 scripts/claimroute.py --winnow .build/release/winnow --items 2000 --rounds 500
"""
import argparse, http.client, json, os, shutil, statistics, subprocess, tempfile, time

import wrkrun

ap = argparse.ArgumentParser()
ap.add_argument('--winnow', default='.build/release/winnow')
ap.add_argument('--model', default='models/default.winnow')
ap.add_argument('--items', type=int, default=2000)
ap.add_argument('--rounds', type=int, default=500)
args = ap.parse_args()

WORDS = ('free prize claim your reward now at the link below today only winners list bank details send cash '
         'meeting tomorrow lunch with the team about the report please bring slides coffee later').split()


def call(port, method, path, key, body=None):
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
    c.request(method, path, body=json.dumps(body) if body is not None else None,
              headers={'Authorization': f'Bearer {key}', 'Content-Type': 'application/json'})
    r = c.getresponse()
    data = r.read()
    c.close()
    if r.status >= 300:
        raise SystemExit(f'{method} {path}: {r.status} {data[:200]!r}')
    return json.loads(data) if data else None


def run(match_text):
    tmp = tempfile.mkdtemp(prefix='winnow-claims-')
    db = os.path.join(tmp, 'winnow.sqlite')
    config = os.path.join(tmp, 'winnow.json')
    with open(config, 'w') as f:
        json.dump({'engine': {'banks': {'matchText': match_text, 'automatic': False}, 'review': {'goldRate': 0, 'doubleReviewRate': 0}}}, f)
    keys = {}
    for role in ('admin', 'feed', 'moderator'):
        keys[role] = subprocess.run([args.winnow, 'keys', 'create', '--role', role, '--name', role, '--database', db],
                                    capture_output=True, text=True, check=True).stdout.strip()
    server, port = wrkrun.serve(args.winnow, db, args.model, '--config', config)
    try:
        policy = call(port, 'GET', '/v1/policies/default', keys['admin'])['policy']
        call(port, 'PUT', '/v1/policies/default', keys['admin'], {'rules': {label: {'review': 0} for label in policy['rules']}})
        texts = []
        for i in range(args.items):
            if i % 5 == 4:
                texts.append(texts[i - 1 - (i * 7) % 3] + ' !!')  # a near-copy of a recent post
            else:
                texts.append(' '.join(WORDS[(i * k * 7 + k) % len(WORDS)] for k in range(1, 12)) + f' {i}')
        for start in range(0, len(texts), 500):
            call(port, 'POST', '/v1/items:batch', keys['feed'],
                 {'items': [{'id': f'i{j}', 'text': t} for j, t in enumerate(texts[start:start + 500], start)]})
        times, waves = [], 0
        for _ in range(args.rounds):
            started = time.perf_counter()
            answer = call(port, 'POST', '/v1/review/claim', keys['moderator'], {})
            times.append((time.perf_counter() - started) * 1000)
            ticket = answer['tickets'][0]
            waves += 1 if ticket.get('wave') else 0
            label = ticket['clearLabel']
            call(port, 'POST', f"/v1/review/tickets/{ticket['ticket']['id']}/decision", keys['moderator'],
                 {'label': label, 'reasonCode': ticket['suggestedReasonCodes'][label]})
        times.sort()
        return statistics.median(times), times[int(len(times) * 0.99) - 1], waves
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


for match_text in (False, True):
    p50, p99, waves = run(match_text)
    print(f"matchText {str(match_text).lower()}: claim p50 {p50:.2f} ms, p99 {p99:.2f} ms, {waves} of {args.rounds} claims showed a wave")
