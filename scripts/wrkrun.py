"""What the load scripts share: a free loopback port, and one wrk run against `winnow serve` read into numbers."""
import os, re, socket, subprocess, time

here = os.path.dirname(os.path.abspath(__file__))


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def serve(winnow, db, model, *extra):
    """Starts `winnow serve` on a free port with `db` and `model` (and `extra` arguments), quiet but for warnings, and
    returns (the process, its port) once it listens. The caller terminates it."""
    port = free_port()
    server = subprocess.Popen([winnow, 'serve', '--port', str(port), '--database', db, '--model', model, *extra],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, 'LOG_LEVEL': 'warning'})
    for line in server.stdout:
        if 'listening on' in line:
            break
    time.sleep(0.5)
    return server, port


def wrk(port, script, connections, threads, env, duration):
    """Runs scripts/wrk/`script` against 127.0.0.1:`port` with `env` added; returns the command as shown in
    BENCHMARKS.md, requests/s, requests, p50 and p99 in ms, non-2xx answers, socket errors and wrk's own output."""
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
