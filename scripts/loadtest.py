#!/usr/bin/env python3
"""HTTP load test of `winnow serve` (release build) with wrk on loopback; writes its section of BENCHMARKS.md.

Starts the server on a free port with a fresh SQLite file in a temporary folder and the bundled model, creates a
feed key, then runs wrk (scripts/wrk/*.lua) for single-item POST /v1/items, 1,000-item batches and engagement
updates. The section between the load-test markers in BENCHMARKS.md is replaced; the rest of the file is kept.
"""
import argparse, os, platform, re, shutil, socket, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument('--winnow', default='.build/release/winnow')
ap.add_argument('--model', default='models/default.winnow')
ap.add_argument('--out', default='BENCHMARKS.md')
ap.add_argument('--duration', type=int, default=15)
ap.add_argument('--connections', type=int, default=32)
args = ap.parse_args()

BEGIN, END = '<!-- load-test:begin -->', '<!-- load-test:end -->'
here = os.path.dirname(os.path.abspath(__file__))


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wrk(script, connections, threads, env, duration):
    cmd = ['wrk', f'-t{threads}', f'-c{connections}', f'-d{duration}s', '--latency', '-s', os.path.join(here, 'wrk', script), f'http://127.0.0.1:{port}']
    out = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True, check=True).stdout
    def latency(p):
        m = re.search(rf'^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$', out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == 'us' else value * 1000 if unit == 's' else value
    rps = float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1))
    bad = re.search(r'Non-2xx or 3xx responses:\s+(\d+)', out)
    errors = re.search(r'Socket errors: (.*)', out)
    shown = [os.path.relpath(c) if c.startswith('/') else c for c in cmd[:-1]]
    requests = int(re.search(r'(\d+) requests in', out).group(1))
    return dict(cmd=' '.join(shown) + ' URL', rps=rps, requests=requests, p50=latency(50), p99=latency(99), non2xx=int(bad.group(1)) if bad else 0,
                socket_errors=errors.group(1) if errors else 'none', raw=out)


tmp = tempfile.mkdtemp(prefix='winnow-load-')
db = os.path.join(tmp, 'winnow.sqlite')
key = subprocess.run([args.winnow, 'keys', 'create', '--role', 'feed', '--name', 'load', '--database', db],
                     capture_output=True, text=True, check=True).stdout.strip()
port = free_port()
server = subprocess.Popen([args.winnow, 'serve', '--port', str(port), '--database', db, '--model', args.model],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, 'LOG_LEVEL': 'warning'})
for line in server.stdout:
    if 'listening on' in line:
        break
time.sleep(0.5)
try:
    env = {'WINNOW_KEY': key}
    # Warm-up, not measured: the first seconds of a new server grow the database and log files and fault the
    # model's pages in; the measured runs show the steady state.
    wrk('items.lua', args.connections, 2, env, 5)
    single = wrk('items.lua', args.connections, 2, env, args.duration)
    single64 = wrk('items.lua', 2 * args.connections, 2, env, args.duration)
    ticks = lambda: sum(int(x) for x in open(f'/proc/{server.pid}/stat').read().rsplit(')', 1)[1].split()[11:13])
    def machine():  # (all, idle + iowait, steal) jiffies of the whole machine
        f = [int(x) for x in open('/proc/stat').readline().split()[1:]]
        return sum(f), f[3] + f[4], f[7]
    before, machine_before = ticks(), machine()
    batch = wrk('batch.lua', 4, 2, {**env, 'BATCH_SIZE': '1000'}, args.duration)
    # Server CPU time per batched item (user + system), and where the rest of the machine's time went, over the run above.
    batch_cpu_us = (ticks() - before) / os.sysconf('SC_CLK_TCK') / (batch['requests'] * 1000) * 1e6
    machine_after = machine()
    elapsed = machine_after[0] - machine_before[0]
    batch_idle = 100 * (machine_after[1] - machine_before[1]) / elapsed
    batch_steal = 100 * (machine_after[2] - machine_before[2]) / elapsed
    batch8 = wrk('batch.lua', 8, 2, {**env, 'BATCH_SIZE': '1000', 'ID_PREFIX': 'c'}, args.duration)
    engagement = wrk('engagement.lua', args.connections, 2, {**env, 'ITEMS': '1000'}, args.duration)
    rss = 0
    for line in open(f'/proc/{server.pid}/status'):
        if line.startswith('VmHWM'):
            rss = int(line.split()[1]) // 1024
finally:
    server.terminate()
    server.wait(timeout=30)
size = os.path.getsize(db) // (1 << 20)
shutil.rmtree(tmp, ignore_errors=True)

cpu = 'unknown'
for line in open('/proc/cpuinfo'):
    if line.startswith('model name'):
        cpu = line.split(':', 1)[1].strip()
        break
items_goal = single['rps'] >= 5000 and single['p99'] < 25
batch_goal = batch['rps'] * 1000 >= 50000
lines = [
    BEGIN,
    '## HTTP load test (`winnow serve`, release build, wrk on loopback)',
    '',
    f'Produced by `make bench` (or `python3 scripts/loadtest.py`) on {time.strftime("%Y-%m-%d")}: {cpu}, {os.cpu_count()} cores, '
    f'{platform.system()} {platform.release()}. wrk runs on the same two cores as the server, after a 5-second warm-up run that is not measured. The server uses a fresh SQLite file '
    f'(WAL, synchronous=NORMAL: a 2xx answer is committed and survives kill -9) and the bundled model; every request carries a feed key.',
    '',
    '| load | command | requests/s | items/s | p50 | p99 | non-2xx |',
    '|---|---|---:|---:|---:|---:|---:|',
    f'| single-item `POST /v1/items` (new item each) | `{single["cmd"]}` | {single["rps"]:,.0f} | {single["rps"]:,.0f} | {single["p50"]:.2f} ms | {single["p99"]:.2f} ms | {single["non2xx"]} |',
    f'| the same with twice the connections | `{single64["cmd"]}` | {single64["rps"]:,.0f} | {single64["rps"]:,.0f} | {single64["p50"]:.2f} ms | {single64["p99"]:.2f} ms | {single64["non2xx"]} |',
    f'| `POST /v1/items:batch`, 1,000 items each | `BATCH_SIZE=1000 {batch["cmd"]}` | {batch["rps"]:,.1f} | {batch["rps"] * 1000:,.0f} | {batch["p50"]:.1f} ms | {batch["p99"]:.1f} ms | {batch["non2xx"]} |',
    f'| the same with 8 connections | `BATCH_SIZE=1000 {batch8["cmd"]}` | {batch8["rps"]:,.1f} | {batch8["rps"] * 1000:,.0f} | {batch8["p50"]:.1f} ms | {batch8["p99"]:.1f} ms | {batch8["non2xx"]} |',
    f'| `POST /v1/items/{{id}}/engagement` (1,000 items, rising counters) | `{engagement["cmd"]}` | {engagement["rps"]:,.0f} | - | {engagement["p50"]:.2f} ms | {engagement["p99"]:.2f} ms | {engagement["non2xx"]} |',
    '',
    f'Goals (issue 4): at least 5,000 single-item requests/s with p99 under 25 ms: **{"met" if items_goal else "not met"}**; '
    f'at least 50,000 items/s in batches: **{"met" if batch_goal else "not met"}**. Server peak RSS {rss} MiB; database after the run {size} MiB. '
    'Writes from concurrent requests share one SQLite transaction (group commit, a savepoint each).',
    '',
    f'Where a batched item\'s time goes: in the 4-connection batch run above the server used {batch_cpu_us:.1f} µs of CPU per item (user + system, '
    f'all threads), so two fully busy cores would carry at most {2e6 / batch_cpu_us:,.0f} items/s; during that run the machine was idle {batch_idle:.1f}% '
    f'of the time and the hypervisor took {batch_steal:.1f}% (steal), and wrk and the kernel\'s writeback took most of the rest. A perf profile of the '
    'same load (2026-11-27, DWARF call graphs) puts about a third of the server\'s time on the SQLite writer thread (about 12 µs an item: the '
    'two inserts with their indexes 8.5, the commits about 1, the checkpoints about 1, writing pages into the log 2 of those), a quarter in '
    'scoring the text with three reasons (about 8.5 µs: tokenising 1.8, hashing and counting the features 2.6, the weights 2.1, the reasons 1.7), '
    'about 2.4 µs in writing the answer\'s JSON, 2 in deciding (policy, audit sampling, review rules), 0.8 in encoding the stored stage record, '
    'and the rest in reading the request, HTTP and the async runtime. Stage results were stored as JSON until 2026-11-27 (825 bytes each, '
    'now a 280-byte binary record): rendering it cost 6% of the CPU and its bytes, written to the log and again by the checkpoint, another 4%; '
    'batches went from 49k to 56k items/s. A batch is scored in parts of 128 items on both cores and each '
    'part is stored as soon as it is scored, so the writer (one thread) stores one part while the next are scored. Checkpoints: a passive one '
    'every 200 ms on a separate connection; when the log passes 64,000 pages, that connection also syncs the database file, and the writer '
    'finishes the copy between two commits (about 50 ms, two short fsyncs) so that the log starts afresh. Until 2026-11-27 a restart checkpoint '
    'from the separate connection did that: with SQLite\'s busy-handler sleeps on both sides it stopped the writer for about 0.4 s every 4 s, '
    'which idled a tenth of the machine and set the batch, single-item and engagement p99s.',
    END,
]
section = '\n'.join(lines)
text = open(args.out).read() if os.path.exists(args.out) else '# Benchmarks\n'
if BEGIN in text and END in text:
    text = text[:text.index(BEGIN)] + section + text[text.index(END) + len(END):]
else:
    text = text.rstrip('\n') + '\n\n' + section + '\n'
open(args.out, 'w').write(text)
print(section)
for name, r in [('single', single), ('single, more connections', single64), ('batch', batch), ('batch, 8 connections', batch8), ('engagement', engagement)]:
    if r['non2xx'] or r['socket_errors'] != 'none':
        print(f'warning: {name}: {r["non2xx"]} non-2xx answers, socket errors: {r["socket_errors"]}', file=sys.stderr)
