#!/usr/bin/env python3
"""Runs several commands in alternation, ROUNDS times each, through Benchmarks/measure.py, and prints
each one's median and range of wall seconds, median CPU seconds (user + system) and peak RSS: a
before/after comparison in one run, so that a machine whose speed drifts (shared hosts) affects
both sides alike.

usage: alternate.py ROUNDS NAME=COMMAND [NAME=COMMAND ...]   (COMMAND is split on spaces)
example: alternate.py 9 "before=/tmp/ckpt-old diff F F" "after=.build/release/ckpt diff F F"
"""
import json
import os
import statistics
import subprocess
import sys

MEASURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "measure.py")


def main():
    rounds = int(sys.argv[1])
    jobs = [argument.split("=", 1) for argument in sys.argv[2:]]
    results = {name: [] for name, _ in jobs}
    for _ in range(rounds):
        for name, command in jobs:
            out = subprocess.run([sys.executable, MEASURE] + command.split(), capture_output=True, text=True, check=True).stdout
            results[name].append(json.loads(out))
    for name, runs in results.items():
        wall = [run["seconds"] for run in runs]
        cpu = [run["cpu_seconds"] for run in runs]
        print(f"{name}: wall median {statistics.median(wall):.3f} (min {min(wall):.3f} max {max(wall):.3f}), "
              f"CPU median {statistics.median(cpu):.2f}, peak RSS {max(run['max_rss_mb'] for run in runs):.0f} MB, "
              f"load {runs[0]['load']:.1f}")


if __name__ == "__main__":
    main()
