"""Load driver for bench/auth: registers an account, then measures sign-ins,
refresh rotations and authenticated reads against their baselines."""
import argparse, http.client, json, os, ssl, statistics, subprocess, threading, time

parser = argparse.ArgumentParser()
for name in ("port", "duration", "connections", "threads"):
    parser.add_argument("--" + name, type=int, required=True)
parser.add_argument("--ca", required=True)
parser.add_argument("--work", required=True)
args = parser.parse_args()

context = ssl.create_default_context(cafile=args.ca)
context.minimum_version = ssl.TLSVersion.TLSv1_3
EMAIL, PASSWORD = "load@example.com", "Quartz-Meadow-Lantern-42!"


def connection():
    return http.client.HTTPSConnection("localhost", args.port, context=context, timeout=30)


def call(conn, method, path, body=None, token=None):
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = "Bearer " + token
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    data = response.read()
    return response.status, (json.loads(data) if data else {})


def throughput(worker, workers, seconds):
    """Runs `worker(stop)` in `workers` threads for `seconds`; returns operations/s."""
    counts = [0] * workers
    stop = time.monotonic() + seconds

    def run(index):
        counts[index] = worker(stop)

    pool = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    start = time.monotonic()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return sum(counts) / (time.monotonic() - start)


def wrk(url, header=None, script=None):
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--latency"]
    if header:
        command += ["-H", header]
    if script:
        command += ["-s", script]
    output = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    rps = float(next(line.split()[1] for line in output.splitlines() if line.startswith("Requests/sec")))
    p50 = next(line.split()[1] for line in output.splitlines() if line.strip().startswith("50%"))
    p99 = next(line.split()[1] for line in output.splitlines() if line.strip().startswith("99%"))
    errors = " ".join(line.strip() for line in output.splitlines() if "Non-2xx" in line or "Socket errors" in line)
    return rps, p50, p99, errors


conn = connection()
status, _ = call(conn, "POST", "/v1/auth/register", {"email": EMAIL, "password": PASSWORD})
assert status == 202, status
status, tokens = call(conn, "POST", "/v1/auth/login", {"email": EMAIL, "password": PASSWORD})
assert status == 200, tokens
cores = os.cpu_count()
print(f"cores {cores}, {args.connections} connections, {args.duration} s per figure")

# 1. The argon2id bound: one hash at the production parameters, times cores.
import argon2  # noqa: E402  (Debian python3-argon2, over the reference libargon2)

hasher = argon2.PasswordHasher(time_cost=2, memory_cost=65536, parallelism=1)
samples = []
for _ in range(10):
    started = time.perf_counter()
    hasher.hash(PASSWORD)
    samples.append(time.perf_counter() - started)
hash_seconds = statistics.median(samples)
bound = cores / hash_seconds
lua = os.path.join(args.work, "login.lua")
with open(lua, "w") as script:
    body = json.dumps({"email": EMAIL, "password": PASSWORD}).replace('"', '\\"')
    script.write(f'wrk.method = "POST"\nwrk.body = "{body}"\nwrk.headers["Content-Type"] = "application/json"\n')
base = f"https://localhost:{args.port}"
logins, p50, p99, errors = wrk(base + "/v1/auth/login", script=lua)
print(f"password logins   {logins:9.1f} /s   p50 {p50:>8}  p99 {p99:>8}  {errors}")
print(f"argon2id bound    {bound:9.1f} /s   (one hash {hash_seconds * 1000:.1f} ms at m=64 MiB,t=2,p=1 x {cores} cores)")
print(f"ratio logins/bound: {logins / bound:.2f}")

# 2. Refresh rotations: each thread follows its own chain of refresh tokens.
def refresher(stop):
    local = connection()
    _, pair = call(local, "POST", "/v1/auth/login", {"email": EMAIL, "password": PASSWORD})
    token, done = pair["refresh_token"], 0
    while time.monotonic() < stop:
        status, pair = call(local, "POST", "/v1/auth/refresh", {"refresh_token": token})
        assert status == 200, pair
        token, done = pair["refresh_token"], done + 1
    return done

refreshes = throughput(refresher, args.connections, args.duration)
print(f"refreshes         {refreshes:9.1f} /s   ({args.connections} clients, each rotating its own chain)")

# 3. Authenticated reads beside unauthenticated ones on the same server.
me, me50, me99, me_errors = wrk(base + "/v1/me", header="Authorization: Bearer " + tokens["access_token"])
health, h50, h99, h_errors = wrk(base + "/healthz")
print(f"GET /v1/me        {me:9.1f} req/s p50 {me50:>8}  p99 {me99:>8}  {me_errors}")
print(f"GET /healthz      {health:9.1f} req/s p50 {h50:>8}  p99 {h99:>8}  {h_errors}")
print(f"ratio /v1/me over /healthz: {me / health:.2f}")

# 4. No enumeration by timing: unknown email against known email, wrong password.
def timed(email):
    started = time.perf_counter()
    status, _ = call(conn, "POST", "/v1/auth/login", {"email": email, "password": "Wrong-Passphrase-123!"})
    assert status == 401, status
    return time.perf_counter() - started

conn = connection()  # the first one idled out during the wrk runs
known, unknown = [], []
for index in range(20):
    unknown.append(timed(f"nobody{index}@example.com"))
    if index % 4 == 0:
        # Stay under the lockout threshold on the known account.
        call(conn, "POST", "/v1/auth/login", {"email": EMAIL, "password": PASSWORD})
    known.append(timed(EMAIL))
print(f"sign-in, unknown email {statistics.median(unknown) * 1000:.1f} ms vs known email {statistics.median(known) * 1000:.1f} ms "
      f"(median of 20): ratio {statistics.median(unknown) / statistics.median(known):.2f}")
