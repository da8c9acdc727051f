#!/usr/bin/env python3
"""Runs a command under /usr/bin/time -v and reports, as one JSON line: wall seconds (measured
here, to the millisecond), CPU seconds (user + system) and maximum resident set size (from
time -v), the 1-minute load average of the machine, and the peak anonymous memory (RssAnon, sampled from
/proc/PID/status every 2 ms: memory the process allocated, as opposed to file pages it mapped).

usage: measure.py COMMAND [ARGS...]   (the command's stdout goes to /dev/null)
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def anon_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        start = time.perf_counter()
        proc = subprocess.Popen(["/usr/bin/time", "-v", "-o", report.name] + sys.argv[1:], stdout=subprocess.DEVNULL)
        peak = 0
        while proc.poll() is None:
            for child in children(proc.pid):
                peak = max(peak, anon_kb(child))
            time.sleep(0.002)
        seconds = time.perf_counter() - start
        text = report.read()
    if proc.returncode != 0:
        sys.stderr.write(text)
        sys.exit(proc.returncode)
    max_rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    user = float(re.search(r"User time \(seconds\): (\S+)", text).group(1))
    system = float(re.search(r"System time \(seconds\): (\S+)", text).group(1))
    print(json.dumps({"seconds": seconds, "cpu_seconds": user + system, "max_rss_mb": max_rss / 1024,
                      "peak_anon_mb": peak / 1024, "load": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
