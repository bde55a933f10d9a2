#!/usr/bin/env python3
"""Stage 1 of two builds of `winnow serve`, side by side: the single-item and the 1,000-item batch load of
scripts/loadtest.py (same wrk scripts, connections and warm-up, each run on a fresh SQLite file), alternating the
builds A B A B … so that a machine whose speed drifts moves both alike. Prints each run and the medians.

    python3 scripts/abtest.py --a OLD/winnow --b .build/release/winnow --rounds 3

Used to check that a change kept stage 1's rate (issue 21: "within 5%"); results go to BENCHMARKS.md by hand.
"""
import argparse, os, shutil, statistics, subprocess, sys, tempfile

import wrkrun

ap = argparse.ArgumentParser()
ap.add_argument('--a', required=True, help='the first build (e.g. before the change)')
ap.add_argument('--b', required=True, help='the second build (e.g. after it)')
ap.add_argument('--model', default='models/default.winnow')
ap.add_argument('--rounds', type=int, default=3)
ap.add_argument('--duration', type=int, default=15)
ap.add_argument('--connections', type=int, default=32)
args = ap.parse_args()


def run(winnow):
    tmp = tempfile.mkdtemp(prefix='winnow-ab-')
    db = os.path.join(tmp, 'winnow.sqlite')
    try:
        key = subprocess.run([winnow, 'keys', 'create', '--role', 'feed', '--name', 'load', '--database', db],
                             capture_output=True, text=True, check=True).stdout.strip()
        server, port = wrkrun.serve(winnow, db, args.model)
        try:
            env = {'WINNOW_KEY': key}
            wrkrun.wrk(port, 'items.lua', args.connections, 2, {**env, 'ID_PREFIX': 'w'}, 5)
            single = wrkrun.wrk(port, 'items.lua', args.connections, 2, env, args.duration)
            batch = wrkrun.wrk(port, 'batch.lua', 4, 2, {**env, 'BATCH_SIZE': '1000'}, args.duration)
            for r in (single, batch):
                if r['non2xx'] or r['socket_errors'] != 'none':
                    sys.exit(f"{winnow}: {r['non2xx']} non-2xx answers, socket errors {r['socket_errors']}")
            return single['rps'], batch['rps'] * 1000
        finally:
            server.terminate()
            server.wait(timeout=30)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


results = {'a': [], 'b': []}
for i in range(args.rounds):
    for name in ('a', 'b'):
        single, batch = run(getattr(args, name))
        results[name].append((single, batch))
        print(f'round {i + 1} {name}: single {single:,.0f}/s, batch {batch:,.0f} items/s', flush=True)
for name in ('a', 'b'):
    print(f"{name} ({getattr(args, name)}): median single {statistics.median(s for s, _ in results[name]):,.0f}/s, "
          f"median batch {statistics.median(b for _, b in results[name]):,.0f} items/s")
ratio_single = statistics.median(s for s, _ in results['b']) / statistics.median(s for s, _ in results['a'])
ratio_batch = statistics.median(b for _, b in results['b']) / statistics.median(b for _, b in results['a'])
print(f'b / a: single {ratio_single:.3f}, batch {ratio_batch:.3f}')
