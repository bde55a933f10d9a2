#!/usr/bin/env python3
"""Single-item load on `winnow serve` (release build, SQLite) while the server's own retraining loop runs a
Davidson-sized pass, beside the same load without one; writes its section of BENCHMARKS.md.

The server starts with the bundled model and a `retrain` section whose base data are the public training sets
(Davidson's tweets and the SMS set: about 23,600 rows, the bundled model's four classes) and whose test data are
their test splits; the loop's own triggers are off, so a pass runs only when this script asks (POST
/v1/models/retraining) and it is left waiting for approval (nothing changes the served model). Four runs of
`wrk` on single-item POST /v1/items: without a pass; with a pass on one thread under SCHED_IDLE (the default); on one
thread at nice 10 only; on two threads at nice 0. Each records requests/s, p50 and p99, and the pass's training seconds. The section
between the retrain-bench markers in BENCHMARKS.md is replaced; the rest is kept.
"""
import argparse, json, os, shutil, subprocess, tempfile, time, urllib.request

import wrkrun

ap = argparse.ArgumentParser()
ap.add_argument('--winnow', default='.build/release/winnow')
ap.add_argument('--model', default='models/default.winnow')
ap.add_argument('--datasets', default='../shared/datasets')
ap.add_argument('--out', default='BENCHMARKS.md')
ap.add_argument('--duration', type=int, default=20)
ap.add_argument('--connections', type=int, default=32)
args = ap.parse_args()

BEGIN, END = '<!-- retrain-bench:begin -->', '<!-- retrain-bench:end -->'
sets = os.path.abspath(args.datasets)
base = [f'{sets}/davidson_hate_offensive/train.csv', f'{sets}/sms_spam/train.csv']
test = [f'{sets}/davidson_hate_offensive/test.csv', f'{sets}/sms_spam/test.csv']
for f in base + test:
    if not os.path.exists(f):
        raise SystemExit(f'Missing {f}: give --datasets DIR (the public sets, ../shared/datasets).')


def call(port, method, path, key, body=None):
    request = urllib.request.Request(f'http://127.0.0.1:{port}{path}', method=method, data=body,
                                     headers={'Authorization': f'Bearer {key}', 'Content-Type': 'application/json'})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read() or b'{}')


def wrk(port, key, duration, prefix):
    return wrkrun.wrk(port, 'items.lua', args.connections, 2, {'WINNOW_KEY': key, 'ID_PREFIX': prefix}, duration)


def run(threads, niceness, with_pass, idle=True):
    tmp = tempfile.mkdtemp(prefix='winnow-retrain-bench-')
    db = os.path.join(tmp, 'winnow.sqlite')
    config = os.path.join(tmp, 'winnow.json')
    with open(config, 'w') as f:
        json.dump({'registry': os.path.join(tmp, 'registry'),
                   'retrain': {'enabled': True, 'everyHours': 0, 'afterLabels': 0, 'checkSeconds': 1, 'shadowHours': 0, 'promotion': 'approve',
                               'baseData': base, 'testData': test, 'threads': threads, 'niceness': niceness, 'idleScheduling': idle,
                               'training': {'featurizer': {'bucketBits': 18}}}}, f)
    key = subprocess.run([args.winnow, 'keys', 'create', '--role', 'feed', '--name', 'load', '--database', db], capture_output=True, text=True, check=True).stdout.strip()
    admin = subprocess.run([args.winnow, 'keys', 'create', '--role', 'admin', '--name', 'ops', '--database', db], capture_output=True, text=True, check=True).stdout.strip()
    server, port = wrkrun.serve(args.winnow, db, args.model, '--config', config)
    try:
        wrk(port, key, 5, 'warm')  # warm-up, not measured
        started = None
        if with_pass:
            call(port, 'POST', '/v1/models/retraining', admin)
            started = time.time()
        result = wrk(port, key, args.duration, 'm')
        result['pass'] = None
        if with_pass:
            result['load_ended_after'] = time.time() - started
            deadline = time.time() + 600
            while time.time() < deadline:
                passes = call(port, 'GET', '/v1/models/retraining', admin)['passes']
                if passes and passes[0]['state'] not in ('training',):
                    result['pass'] = passes[0]
                    break
                time.sleep(0.5)
        for line in open(f'/proc/{server.pid}/status'):
            if line.startswith('VmHWM'):
                result['rss'] = int(line.split()[1]) // 1024
        return result
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def idle_pass():
    """The same pass with no load: `winnow retrain --now` in its own process, timed."""
    tmp = tempfile.mkdtemp(prefix='winnow-retrain-idle-')
    config = os.path.join(tmp, 'winnow.json')
    with open(config, 'w') as f:
        json.dump({'registry': os.path.join(tmp, 'registry'), 'retrain': {'shadowHours': 0, 'promotion': 'approve', 'baseData': base, 'testData': test,
                                                                            'training': {'featurizer': {'bucketBits': 18}}}}, f)
    out = {}
    for threads in (1, 2):
        with open(config) as f:
            c = json.load(f)
        c['retrain']['threads'] = threads
        with open(config, 'w') as f:
            json.dump(c, f)
        start = time.time()
        answer = subprocess.run([args.winnow, 'retrain', '--now', '--json', '--database', os.path.join(tmp, f'w{threads}.sqlite'), '--model', args.model,
                                 '--config', config], capture_output=True, text=True)
        passed = json.loads(answer.stdout) if answer.stdout.strip().startswith('{') else {}
        out[threads] = dict(seconds=time.time() - start, training=passed.get('trainingSeconds'), state=passed.get('state'))
    shutil.rmtree(tmp, ignore_errors=True)
    return out


without = run(1, 10, False)
default = run(1, 10, True)
nice = run(1, 10, True, idle=False)
both = run(2, 0, True, idle=False)
idle = idle_pass()

rows = []
def row(name, r):
    p = r.get('pass')
    training = f"{p['trainingSeconds']:.1f} s" if p and p.get('trainingSeconds') else '–'
    ratio = r['rps'] / without['rps']
    covered = f", load ended {r['load_ended_after']:.0f} s after the pass began" if p else ''
    rows.append(f"| {name} | {r['rps']:,.0f} | {ratio:.2f} | {r['p50']:.2f} | {r['p99']:.2f} | {training}{covered} | {p['state'] if p else '–'} | {r.get('rss', 0)} |")

row('no pass', without)
row('pass on 1 thread, SCHED_IDLE (default)', default)
row('pass on 1 thread, nice 10 only', nice)
row('pass on 2 threads, nice 0', both)
section = '\n'.join([
    BEGIN,
    '## Scoring while the service retrains (issue 20)',
    '',
    f'`python3 scripts/retrainbench.py` ({time.strftime("%Y-%m-%d")}, release build, SQLite, `wrk -t2 -c{args.connections} -d{args.duration}s` single-item '
    'POST /v1/items with `scripts/wrk/items.lua`, after a 5 s warm-up). The pass trains the default logistic model (2^18 buckets) on '
    f'{len(base)} base files (Davidson and SMS training sets, about 23,600 rows), gates it on their test splits, and waits for approval.',
    '',
    '| run | requests/s | of no pass | p50 ms | p99 ms | pass training | pass ended | peak RSS MiB |',
    '|---|---:|---:|---:|---:|---|---|---:|',
    *rows,
    '',
    f"The same pass with no load (`winnow retrain --now`, whole process): {idle[1]['seconds']:.1f} s on one thread "
    f"(training {idle[1]['training'] or 0:.1f} s), {idle[2]['seconds']:.1f} s on two (training {idle[2]['training'] or 0:.1f} s).",
    END,
])
text = open(args.out).read() if os.path.exists(args.out) else ''
if BEGIN in text:
    text = text[:text.index(BEGIN)] + section + text[text.index(END) + len(END):]
else:
    text = text.rstrip('\n') + '\n\n' + section + '\n'
open(args.out, 'w').write(text)
print(section)
