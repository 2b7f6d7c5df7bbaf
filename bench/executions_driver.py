"""Drives bench/executions: registers a consumer, then keeps N clients
submitting `pass` with wait=true and reports executions/s and latency."""
import argparse, http.client, json, re, ssl, statistics, threading, time, uuid

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--ca", required=True)
parser.add_argument("--duration", type=float, default=10)
parser.add_argument("--levels", type=int, nargs="+", default=[1, 2, 8])
parser.add_argument("--engine", required=True)
args = parser.parse_args()
context = ssl.create_default_context(cafile=args.ca)
context.minimum_version = ssl.TLSVersion.TLSv1_3


def connection():
    return http.client.HTTPSConnection("localhost", args.port, context=context, timeout=120)


def call(conn, method, path, body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    return response.status, json.loads(response.read() or b"{}")


setup = connection()
email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
password = "Bench-Run-" + uuid.uuid4().hex
status, _ = call(setup, "POST", "/v1/auth/register", {"email": email, "password": password})
assert status == 202, status
status, tokens = call(setup, "POST", "/v1/auth/login", {"email": email, "password": password})
assert status == 200, tokens
token = tokens["access_token"]

engine = {}
for line in open(args.engine):
    match = re.search(r"concurrency\s+(\d+): talos\s+([\d.]+) runs/s", line)
    if match:
        engine[int(match.group(1))] = float(match.group(2))

for level in args.levels:
    latencies, failures, lock = [], [0], threading.Lock()
    deadline = time.monotonic() + args.duration

    def client():
        conn = connection()
        while time.monotonic() < deadline:
            started = time.monotonic()
            status, body = call(conn, "POST", "/v1/executions", {"language": "python", "source": "pass", "wait": True}, token)
            elapsed = time.monotonic() - started
            with lock:
                if status == 200 and body.get("verdict") == "accepted":
                    latencies.append(elapsed)
                else:
                    failures[0] += 1

    threads = [threading.Thread(target=client) for _ in range(level)]
    begun = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - begun
    rate = len(latencies) / wall
    ordered = sorted(latencies) or [0]
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    nearest = min(engine, key=lambda c: abs(c - level)) if engine else None
    baseline = engine.get(nearest) if nearest else None
    ratio = f"ratio {rate / baseline:.2f} (engine at concurrency {nearest}: {baseline:.1f} runs/s)" if baseline else "no engine figure"
    print(f"  concurrency {level:2d}: {rate:6.1f} executions/s   p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   failed {failures[0]}   {ratio}")
