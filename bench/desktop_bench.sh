#!/usr/bin/env bash
# sotto-desktop against a private Prosody (issue 5, "Benchmark"):
#  1. time from exec to the main window's first paint (--report-startup), for
#     an empty profile and for one with two accounts and 200 contacts;
#  2. time from exec to both accounts online with their contacts
#     (--report-online), then RSS;
#  3. CPU over an idle period with both accounts online.
# Runs under Xvfb (xvfb-run, QT_QPA_PLATFORM=xcb) when xvfb-run is installed,
# else with QT_QPA_PLATFORM=offscreen.
# Usage: bench/desktop_bench.sh [IDLE_SECONDS=60]   (STARTUP_RUNS=10 in the environment)
set -euo pipefail
cd "$(dirname "$0")/.."
idle=${1:-${IDLE_SECONDS:-60}}
runs=${STARTUP_RUNS:-10}
sotto=$PWD/build/dev/apps/cli/sotto
desktop=$PWD/build/dev/apps/desktop/sotto-desktop
prosody=$PWD/build/dev/tests/harness/sotto-test-prosody
if [ ! -x "$sotto" ] || [ ! -x "$desktop" ] || [ ! -x "$prosody" ]; then
  cmake --build --preset dev --target sotto sotto-desktop sotto-test-prosody
fi
work=$(mktemp -d -t sotto-desktop-bench-XXXXXX)
export XDG_DATA_HOME=$work/data      # the CLI's profiles: $work/data/sotto
export XDG_CONFIG_HOME=$work/config  # nothing of yours is read or written
export XDG_CACHE_HOME=$work/cache
export DBUS_SESSION_BUS_ADDRESS=     # the bench profiles keep their key in a file, not your keyring
pids=()
cleanup() {
  # The driver stops the desktop app it started, then exits.
  if [ -s "$work/driver.pid" ]; then
    dpid=$(cat "$work/driver.pid")
    kill "$dpid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$dpid" 2>/dev/null || break; sleep 0.1; done
  fi
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  # xvfb-run (a /bin/sh script) leaves its Xvfb behind when it is killed.
  if [ -s "$work/xvfb.pid" ]; then
    xpid=$(cat "$work/xvfb.pid")
    [ "$(cat "/proc/$xpid/comm" 2>/dev/null)" = Xvfb ] && kill "$xpid" 2>/dev/null || true
  fi
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkfifo "$work/ctl"
"$prosody" <"$work/ctl" >"$work/info" &
pids+=($!)
export BENCH_SERVER_PID=$!
exec 3>"$work/ctl"
for _ in $(seq 1 100); do [ -s "$work/info" ] && break; sleep 0.1; done
read -r info <"$work/info" || { echo "desktop_bench: the test Prosody did not start" >&2; exit 1; }
port=$(sed -n 's/.*c2s_port=\([0-9]*\).*/\1/p' <<<"$info")
fp=$(sed -n 's/.*sha256=\([0-9a-f]*\).*/\1/p' <<<"$info")

# An empty profile (no accounts), and "bench" with two accounts.
"$sotto" --profile empty account list >/dev/null 2>"$work/empty.log" || { cat "$work/empty.log"; exit 1; }
for user in one two; do
  printf 'pw-%s\n' "$user" | "$sotto" --profile bench account register "$user@localhost" \
    --host 127.0.0.1 --port "$port" --pin "$fp" --remember --password-stdin \
    >/dev/null 2>"$work/register.log" || { cat "$work/register.log"; exit 1; }
done

cat >"$work/driver.py" <<'PY'
import json, os, queue, signal, statistics, subprocess, sys, threading, time

sotto, desktop, work, data_home = sys.argv[2:6]
accounts = ["one@localhost", "two@localhost"]


class Fail(Exception):
    pass


def fail(message, logs=()):
    text = "desktop_bench: " + message
    for path in logs:
        try:
            with open(path, errors="replace") as f:
                text += "\n--- " + os.path.basename(path) + " ---\n" + f.read()
        except OSError:
            pass
    raise Fail(text)


# --- 200 contacts in several groups, over one `sotto rpc` ---------------------

FIRST = ["Anna", "Ben", "Chiara", "Dmitri", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas",
         "Kira", "Luca", "Mei", "Nils", "Olga", "Pablo", "Quinn", "Rosa", "Sven", "Tariq"]
LAST = ["Berg", "Costa", "Dubois", "Eriksen", "Fischer"]
GROUPS = ["Friends", "Family", "Work", "Sports club", "Neighbours"]


# The contacts are users that do not exist, so each stays "waiting for
# authorization": Prosody sends every such request again at each login (and
# pushes the roster item), which is part of the login time measured below.
def contacts_for(index):
    out = []
    for i in range(100):
        first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
        address = "%s.%s.%d.%d@localhost" % (first.lower(), last.lower(), index, i)
        groups = [] if i % 10 == 9 else [GROUPS[i % len(GROUPS)]]
        if i % 7 == 0:
            groups.append("Favourites")
        out.append({"account": accounts[index], "address": address,
                    "name": "%s %s" % (first, last), "groups": groups})
    return out


class Rpc:
    def __init__(self, log):
        self.proc = subprocess.Popen([sotto, "--profile", "bench", "rpc"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=open(log, "w"), text=True,
                                     bufsize=1)
        self.log = log
        self.next_id = 0
        self.answers = {}
        self.events = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            msg = json.loads(line)
            with self.cond:
                if "id" in msg:
                    self.answers[msg["id"]] = msg
                else:
                    self.events.append(msg["params"])
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def send(self, method, params=None):
        self.next_id += 1
        request = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            request["params"] = params
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return self.next_id

    def wait(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    fail("sotto rpc: no " + what, [self.log])
                self.cond.wait(min(left, 0.5))

    def results(self, ids, timeout, what):
        self.wait(lambda: all(i in self.answers for i in ids), timeout, what)
        errors = [self.answers[i]["error"] for i in ids if "error" in self.answers[i]]
        if errors:
            fail("sotto rpc: %s failed: %s" % (what, errors[0]), [self.log])
        return [self.answers[i]["result"] for i in ids]


def populate():
    rpc = Rpc(os.path.join(work, "rpc.log"))
    try:
        rpc.results([rpc.send("account.connect", {"address": a, "wait": True}) for a in accounts],
                    60, "account.connect")
        for index in range(len(accounts)):
            pending = contacts_for(index)
            while pending:  # 25 in flight at a time
                batch, pending = pending[:25], pending[25:]
                rpc.results([rpc.send("contact.add", c) for c in batch], 60, "contact.add")
        lists = rpc.results([rpc.send("contact.list", {"account": a}) for a in accounts], 30,
                            "contact.list")
        if [len(l) for l in lists] != [100, 100]:
            fail("the accounts have %s contacts, not 100 each" % [len(l) for l in lists],
                 [rpc.log])
        # The first login makes each account's OTR key on a worker thread: wait
        # for both, so that the desktop runs below are the usual, later start.
        def keys_ready():
            ready = {e["account"] for e in rpc.events
                     if e.get("type") == "otr.key" and e.get("stage") == "ready"}
            failed = [e for e in rpc.events if e.get("type") == "otr.key" and e.get("stage") == "failed"]
            if failed:
                fail("OTR key generation failed: %s" % failed[0], [rpc.log])
            return ready >= set(accounts)
        have = rpc.results([rpc.send("otr.fingerprint", {"account": a}) for a in accounts], 30,
                           "otr.fingerprint")
        if not all(h["fingerprint"] for h in have):
            rpc.wait(keys_ready, 120, "OTR keys (otr.key ready)")
        rpc.results([rpc.send("shutdown")], 30, "shutdown")
        rpc.proc.stdin.close()
        if rpc.proc.wait(timeout=30) != 0:
            fail("sotto rpc exited with status %d" % rpc.proc.returncode, [rpc.log])
    finally:
        if rpc.proc.poll() is None:
            rpc.proc.kill()
            rpc.proc.wait()


# --- sotto-desktop ------------------------------------------------------------

class App:
    count = 0
    running = []

    def __init__(self, profile, flag):
        App.count += 1
        self.out_log = os.path.join(work, "desktop-%d.out" % App.count)
        self.err_log = os.path.join(work, "desktop-%d.err" % App.count)
        self.lines = queue.Queue()
        out = open(self.out_log, "w")
        self.t0 = time.monotonic_ns()
        try:
            self.proc = subprocess.Popen(
                [desktop, "--profile", profile, "--data-home", data_home, flag],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=open(self.err_log, "w"), text=True, bufsize=1)
        except OSError as e:
            fail("cannot run %s: %s (is it being rebuilt?)" % (desktop, e))
        self.pid = self.proc.pid
        App.running.append(self)

        def read():
            for line in self.proc.stdout:
                out.write(line)
                out.flush()
                self.lines.put(line)
            self.lines.put(None)
        threading.Thread(target=read, daemon=True).start()

    def logs(self):
        return [self.out_log, self.err_log]

    def expect(self, prefix, timeout):
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.stop()
                fail("sotto-desktop printed no %r within %d s" % (prefix, timeout), self.logs())
            if line is None:
                self.proc.wait()
                fail("sotto-desktop exited (status %s) without printing %r"
                     % (self.proc.returncode, prefix), self.logs())
            if line.startswith(prefix):
                return line.split()

    def stop(self):
        # SIGTERM is File > Quit: acknowledgements, then the streams close.
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def cpu_ticks(self):
        with open("/proc/%d/stat" % self.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    def status(self):
        out = {}
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                key, _, value = line.partition(":")
                out[key] = value.split()[0] if value.split() else ""
        return out


notes = []


def startup(profile):
    """Wall time from exec to the first paint, and the CPU time of the whole
    run (to the first paint and quitting), in ms."""
    times, cpu = [], []
    for run in range(runs + 1):  # the first run only warms the caches
        app = App(profile, "--report-startup")
        painted = int(app.expect("first-paint-monotonic-ns", 30)[1])
        deadline = time.monotonic() + 10
        while True:
            pid, status, usage = os.wait4(app.pid, os.WNOHANG)
            if pid:
                app.proc.returncode = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > deadline:
                app.stop()
                fail("sotto-desktop --report-startup did not quit after the first paint",
                     app.logs())
            time.sleep(0.005)
        if app.proc.returncode != 0:
            fail("sotto-desktop --report-startup exited with status %d" % app.proc.returncode,
                 app.logs())
        if run:
            times.append((painted - app.t0) / 1e6)
            cpu.append((usage.ru_utime + usage.ru_stime) * 1000)
    return times, cpu


def fingerprints_ready():
    for account in accounts:
        result = subprocess.run([sotto, "--profile", "bench", "otr", "fingerprint", account],
                                capture_output=True, text=True)
        hexdigits = sum(c in "0123456789ABCDEFabcdef" for c in result.stdout)
        if result.returncode != 0 or hexdigits < 40:
            return False
    return True


def tree_cpu_ticks(pid):
    """utime+stime of a process and all its descendants (the test Prosody)."""
    total = 0
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                total += sum(tree_cpu_ticks(int(child)) for child in f.read().split())
    except (OSError, ValueError):
        pass
    return total


def measure(platform):
    fmt = lambda t: "median %6.1f ms (min %.1f, max %.1f, %d runs)" % (
        statistics.median(t), min(t), max(t), len(t))
    global load_start
    load_start = " ".join(open("/proc/loadavg").read().split()[:3])

    # Warm-up login: the first desktop start with these accounts. The keys
    # were made over rpc already; check they are there, as the measured run
    # must not make them.
    warm = App("bench", "--report-online")
    warm.expect("online-monotonic-ns", 60)
    time.sleep(3)
    warm.stop()
    if not fingerprints_ready():
        fail("the accounts have no OTR key after the warm-up run", warm.logs())

    startup_empty = startup("empty")
    startup_full = startup("bench")

    server = int(os.environ.get("BENCH_SERVER_PID", "0"))
    server_before = tree_cpu_ticks(server) if server else 0
    app = App("bench", "--report-online")
    try:
        words = app.expect("online-monotonic-ns", 60)
        server_login = tree_cpu_ticks(server) - server_before if server else 0
        online_ms = (int(words[1]) - app.t0) / 1e6
        contacts = int(words[3])
        if contacts != 200:
            fail("sotto-desktop reports %d contacts, not 200" % contacts, app.logs())
        ticks = os.sysconf("SC_CLK_TCK")
        cpu_online = app.cpu_ticks()
        time.sleep(2)
        st = app.status()
        rss_kb, hwm_kb, threads = int(st["VmRSS"]), int(st["VmHWM"]), st["Threads"]
        before, t_before = app.cpu_ticks(), time.monotonic()
        switches = lambda s: int(s["voluntary_ctxt_switches"]) + int(s["nonvoluntary_ctxt_switches"])
        sw_before = switches(app.status())
        time.sleep(idle)
        if app.proc.poll() is not None:
            fail("sotto-desktop exited while idle (status %d)" % app.proc.returncode, app.logs())
        after, t_after = app.cpu_ticks(), time.monotonic()
        st_end = app.status()
        elapsed = t_after - t_before
        cpu_pct = 100.0 * (after - before) / ticks / elapsed
        wakeups = (switches(st_end) - sw_before) / elapsed  # main thread only
        rss_end_kb = int(st_end["VmRSS"])
    finally:
        app.stop()

    mb = lambda kb: kb / 1024.0
    load_end = " ".join(open("/proc/loadavg").read().split()[:3])
    rows = [
        ("display", platform),
        ("load average (1/5/15 min)", "%s at the start, %s at the end" % (load_start, load_end)),
        ("first paint, empty profile", fmt(startup_empty[0])),
        ("  CPU per run (user+sys)", fmt(startup_empty[1])),
        ("first paint, 2 accounts, 200 contacts", fmt(startup_full[0])),
        ("  CPU per run (user+sys)", fmt(startup_full[1])),
        ("exec to 2 accounts online, %d contacts" % contacts,
         "%.1f ms (CPU by then: app %.2f s, Prosody %.2f s)"
         % (online_ms, cpu_online / ticks, server_login / ticks)),
        ("RSS 2 s after online", "%.1f MB (VmRSS %d kB, VmHWM %d kB, %s threads)"
         % (mb(rss_kb), rss_kb, hwm_kb, threads)),
        ("CPU over %d s idle, online" % idle, "%.3f%% of one core (%d ticks of 1/%d s)"
         % (cpu_pct, after - before, ticks)),
        ("  main thread wakeups", "%.1f/s" % wakeups),
        ("  RSS at the end", "%.1f MB" % mb(rss_end_kb)),
    ]
    print()
    print("=== sotto-desktop benchmark ===")
    for label, value in rows:
        print("%-40s %s" % (label + ":", value))
    for note in notes:
        print(note)


def terminated(signum, frame):
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    runs, idle = int(os.environ["BENCH_RUNS"]), int(os.environ["BENCH_IDLE"])
    signal.signal(signal.SIGTERM, terminated)
    signal.signal(signal.SIGINT, terminated)
    with open(os.path.join(work, "driver.pid"), "w") as f:
        f.write("%d\n" % os.getpid())
    try:
        if sys.argv[1] == "populate":
            populate()
        else:
            display = os.environ.get("DISPLAY", "")
            if display.startswith(":"):  # xvfb-run: note Xvfb's pid for the cleanup
                try:
                    with open("/tmp/.X%s-lock" % display[1:].split(".")[0]) as f:
                        with open(os.path.join(work, "xvfb.pid"), "w") as out:
                            out.write(f.read().strip() + "\n")
                except OSError:
                    pass
            measure(sys.argv[6])
    except Fail as e:
        print(e, file=sys.stderr)
        sys.exit(1)
    finally:
        for app in App.running:
            app.stop()
        os.unlink(os.path.join(work, "driver.pid"))
PY

export BENCH_RUNS=$runs BENCH_IDLE=$idle
# In the background, so that a signal reaches the trap at once.
python3 "$work/driver.py" populate "$sotto" "$desktop" "$work" "$work/data" &
pids+=($!)
wait $!

if command -v xvfb-run >/dev/null; then
  export QT_QPA_PLATFORM=xcb
  xvfb-run -a -s "-screen 0 1920x1080x24" python3 "$work/driver.py" measure "$sotto" "$desktop" \
    "$work" "$work/data" "Xvfb 1920x1080x24 (xvfb-run -a), QT_QPA_PLATFORM=xcb" &
else
  export QT_QPA_PLATFORM=offscreen
  python3 "$work/driver.py" measure "$sotto" "$desktop" "$work" "$work/data" \
    "no xvfb-run: QT_QPA_PLATFORM=offscreen (no real painting)" &
fi
pids+=($!)
wait $!
