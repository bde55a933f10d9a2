#!/usr/bin/env python3
"""Benchmarks Winnow against scikit-learn on the shared data sets and writes BENCHMARKS.md.

Every figure comes from a child process timed with wall-clock time and measured with wait4's peak resident
memory, one thread each. scikit-learn uses the features Winnow's defaults use as closely as it can: hashed word
1-2 grams plus char_wb 2-5 grams (2^20 buckets each); MultinomialNB on counts, LogisticRegression (lbfgs,
C=10, class_weight=balanced) on L2-normalised signed hashes.
"""
import re
import argparse, csv, json, os, platform, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument('--datasets', required=True)
ap.add_argument('--winnow', required=True)
ap.add_argument('--out', default='BENCHMARKS.md')
ap.add_argument('--child', nargs='*', help=argparse.SUPPRESS)
args = ap.parse_args()

SKLEARN_CHILD = r'''
import csv, json, pickle, sys, time
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.pipeline import FeatureUnion
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import MultinomialNB
mode, algo = sys.argv[1], sys.argv[2]
def vectorizer(signed):
    return FeatureUnion([
        ('word', HashingVectorizer(ngram_range=(1, 2), n_features=2**20, alternate_sign=signed, norm='l2' if signed else None)),
        ('char', HashingVectorizer(analyzer='char_wb', ngram_range=(2, 5), n_features=2**20, alternate_sign=signed, norm='l2' if signed else None))])
if mode == 'train':
    rows = list(csv.DictReader(open(sys.argv[3], newline='', encoding='utf-8')))
    texts, labels = [r['text'] for r in rows], [r['label'] for r in rows]
    vec = vectorizer(algo == 'logistic')
    X = vec.transform(texts)
    model = LogisticRegression(C=10, class_weight='balanced', max_iter=1000) if algo == 'logistic' else MultinomialNB()
    model.fit(X, labels)
    pickle.dump((vec, model), open(sys.argv[4], 'wb'))
else:  # score: JSONL in, JSONL out, in batches of 1000
    vec, model = pickle.load(open(sys.argv[3], 'rb'))
    out = open(sys.argv[5], 'w')
    classes = list(model.classes_)
    def flush(batch):
        P = model.predict_proba(vec.transform([b['text'] for b in batch]))
        for b, p in zip(batch, P):
            out.write(json.dumps({'id': b.get('id'), 'label': classes[int(p.argmax())], 'probabilities': dict(zip(classes, map(float, p)))}) + '\n')
    batch = []
    for line in open(sys.argv[4], encoding='utf-8'):
        batch.append(json.loads(line))
        if len(batch) == 1000: flush(batch); batch = []
    if batch: flush(batch)
    out.close()
'''

def run(cmd, stdin=None, stdout=None):
    """Runs cmd; returns (seconds, peak MiB, stdout text)."""
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=stdin, stdout=stdout if stdout is not None else subprocess.PIPE, stderr=subprocess.PIPE)
    out = p.stdout.read() if stdout is None else b''
    err = p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        sys.exit(f'{" ".join(cmd)} failed: {err.decode()[-500:]}')
    return seconds, usage.ru_maxrss / 1024, out.decode()

def main():
    tmp = tempfile.mkdtemp(prefix='winnow-bench-')
    child = os.path.join(tmp, 'sk.py')
    open(child, 'w').write(SKLEARN_CHILD)
    py = sys.executable
    results = []
    for name in ('sms_spam', 'davidson_hate_offensive'):
        train = os.path.join(args.datasets, name, 'train.csv')
        test = os.path.join(args.datasets, name, 'test.csv')
        rows = list(csv.DictReader(open(test, newline='', encoding='utf-8')))
        jsonl = os.path.join(tmp, f'{name}.jsonl')
        n = 0
        with open(jsonl, 'w', encoding='utf-8') as f:
            while n < 100_000:
                for r in rows:
                    f.write(json.dumps({'id': f'{r["id"]}-{n}', 'text': r['text']}) + '\n')
                    n += 1
        for algo in ('nb', 'logistic'):
            model = os.path.join(tmp, f'{name}-{algo}.winnow')
            train_cmd = [args.winnow, 'train', '--data', train, '--algorithm', algo, '--out', model, '--quiet']
            w_train, w_train_mem, _ = run(train_cmd)
            extra = {}
            if algo == 'logistic':
                # The default command on one core (its two threads share core 0), and one fit without the held-out
                # split at scikit-learn's tolerance (the same work scikit-learn does), on both cores and on one.
                one = os.path.join(tmp, 'one.winnow')
                like = [args.winnow, 'train', '--data', train, '--algorithm', algo, '--holdout', '0', '--tolerance', '1e-4', '--out', one, '--quiet']
                extra = dict(w_train_core=run(['taskset', '-c', '0'] + train_cmd)[0], w_like=run(like)[0],
                             w_like_core=run(['taskset', '-c', '0'] + like)[0])
            with open(jsonl) as fin, open(os.devnull, 'w') as fout:
                w_e2e, w_e2e_mem, _ = run([args.winnow, 'score', '--model', model, '--reasons', '0'], stdin=fin, stdout=fout)
            with open(jsonl) as fin, open(os.devnull, 'w') as fout:
                w_e2e_r, _, _ = run([args.winnow, 'score', '--model', model], stdin=fin, stdout=fout)
            _, _, bench = run([args.winnow, 'bench', '--model', model, '--data', test, '--json', '--seconds', '2'])
            bench = json.loads(bench)
            pickled = os.path.join(tmp, f'{name}-{algo}.pkl')
            s_train, s_train_mem, _ = run([py, child, 'train', algo, train, pickled])
            s_e2e, s_e2e_mem, _ = run([py, child, 'score', algo, pickled, jsonl, os.devnull])
            results.append(dict(
                set=name, algo=algo, lines=n, train_rows=sum(1 for _ in open(train, encoding='utf-8')),
                w_train=w_train, w_train_mem=w_train_mem, w_e2e=n / w_e2e, w_e2e_r=n / w_e2e_r, w_e2e_mem=w_e2e_mem,
                w_core=bench['textsPerSecond'], w_core_r=bench['textsPerSecondWithReasons'],
                w_p50=bench['latencyP50Microseconds'], w_p99=bench['latencyP99Microseconds'],
                s_train=s_train, s_train_mem=s_train_mem, s_e2e=n / s_e2e, s_e2e_mem=s_e2e_mem,
                w_size=os.path.getsize(model) / 2**20, **extra))
            print(f'{name}/{algo}: done', file=sys.stderr)
    write(results)

def cpu():
    try:
        for line in open('/proc/cpuinfo'):
            if line.startswith('model name'): return line.split(':', 1)[1].strip()
    except OSError: pass
    return platform.processor() or 'unknown'

def write(results):
    import sklearn
    lines = ['# Benchmarks', '',
             f'Machine: {cpu()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; scikit-learn {sklearn.__version__}, '
             f'Python {platform.python_version()}. scikit-learn runs on one thread (OMP/OpenBLAS/MKL threads = 1); Winnow scores on one thread, '
             'and its logistic training uses two (a fixed split of the work, so the model does not depend on the core count): the training '
             'table below also runs it on one core.',
             f'Produced by `make bench` (`scripts/bench.sh`, which runs `scripts/bench.py`) on {time.strftime("%Y-%m-%d")}.', '',
             'End to end = a child process reading JSON Lines (the test split repeated to 100,000 lines), scoring, and writing JSON Lines: '
             '`winnow score --model M --reasons 0 < in.jsonl > out.jsonl` (and with the default 3 reasons) against a Python script doing '
             'json.loads, HashingVectorizer.transform + predict_proba in batches of 1,000, and json.dumps. In-process = `winnow bench`: '
             'raw text to calibrated probabilities in a loop. Training = the whole `winnow train` command with default options '
             '(features, held-out calibration and refit included) against fitting scikit-learn on the same hashed features. '
             'Peak memory is the child process\'s maximum resident set.', '',
             '| set | algorithm | Winnow end to end (texts/s) | with 3 reasons | scikit-learn end to end | speed-up | Winnow in-process (texts/s) | p50 / p99 latency (µs) | Winnow train (s) | scikit-learn train (s) | speed-up | Winnow peak MiB (train / score) | scikit-learn peak MiB (train / score) | model file MiB |',
             '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    for r in results:
        lines.append(f"| {r['set']} | {r['algo']} | {r['w_e2e']:,.0f} | {r['w_e2e_r']:,.0f} | {r['s_e2e']:,.0f} | {r['w_e2e'] / r['s_e2e']:.1f}x | "
                     f"{r['w_core']:,.0f} | {r['w_p50']:.1f} / {r['w_p99']:.1f} | {r['w_train']:.2f} | {r['s_train']:.2f} | {r['s_train'] / r['w_train']:.1f}x | "
                     f"{r['w_train_mem']:.0f} / {r['w_e2e_mem']:.0f} | {r['s_train_mem']:.0f} / {r['s_e2e_mem']:.0f} | {r['w_size']:.2f} |")
    lines += ['', '### Logistic training, in detail', '',
              'scikit-learn: one fit, L-BFGS to a largest gradient component of 1e-4 (its default `tol`), on one thread. Winnow\'s default '
              '`winnow train` does more: a fit on 90% of the rows, temperature calibration and held-out metrics on the other 10%, and a '
              'refit on all rows, both fits to 1e-5. "Same work" is `winnow train --holdout 0 --tolerance 1e-4`: one fit to scikit-learn\'s '
              'tolerance. "One core" runs the command under `taskset -c 0`. Times are whole processes (reading, features, fitting, writing).', '',
              '| set | scikit-learn (s) | Winnow default (s) | speed-up | on one core (s) | speed-up | Winnow same work (s) | speed-up | on one core (s) | speed-up |',
              '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    for r in results:
        if r['algo'] != 'logistic': continue
        s = r['s_train']
        lines.append(f"| {r['set']} | {s:.2f} | {r['w_train']:.2f} | {s / r['w_train']:.1f}x | {r['w_train_core']:.2f} | {s / r['w_train_core']:.1f}x | "
                     f"{r['w_like']:.2f} | {s / r['w_like']:.1f}x | {r['w_like_core']:.2f} | {s / r['w_like_core']:.1f}x |")
    e2e = min(r['w_e2e'] / r['s_e2e'] for r in results)
    train = min(r['s_train'] / r['w_train'] for r in results if r['algo'] == 'logistic')
    lines += ['', 'Goals (issue 3): end-to-end scoring at least 5x scikit-learn, training at least 10x faster than scikit-learn\'s logistic regression.',
              f'This run: end-to-end speed-up at least {e2e:.1f}x ({"met" if e2e >= 5 else "not met"}); logistic training speed-up at least '
              f'{train:.1f}x for the default command on two cores ({"met" if train >= 10 else "not met"}); for the same work as scikit-learn '
              f'on one core at least {min(r["s_train"] / r["w_like_core"] for r in results if r["algo"] == "logistic"):.1f}x.',
              'scikit-learn\'s ~50,000 texts/s quoted in the issue is for word features only; with the character n-grams both sides use here '
              'it does under 10,000.', '']
    # Keep every section other commands own, between their markers (the HTTP load tests on both stores and with webhooks,
    # the review queue's claims on both stores), in their order. Naming them one by one lost the PostgreSQL load test.
    kept = ''
    if os.path.exists(args.out):
        old = open(args.out).read()
        for match in re.finditer(r'<!-- ([a-z0-9-]+):begin -->.*?<!-- \1:end -->', old, re.S):
            kept += '\n' + match.group(0) + '\n'
    open(args.out, 'w').write('\n'.join(lines) + kept)
    print('\n'.join(lines))

main()
