"""Starts a runner as a cluster of worker processes on 127.0.0.1, each with its own
TF_CONFIG (the multi-worker tests' launcher). Every worker runs through tests/kill_at.py, so
one can be killed at a chosen point; each gets its own TMPDIR, so a test sees what its
scratch directory left behind."""

import json
import os
import pathlib
import socket
import subprocess
import sys
import time
from typing import Dict, List, NamedTuple, Optional

ROOT = pathlib.Path(__file__).resolve().parent.parent
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}


def free_ports(n: int) -> List[int]:
    """n ports nothing listens on now (held open together, so they differ)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_config(ports: List[int], index: int) -> str:
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


class Finished(NamedTuple):
    returncode: int
    stderr: str
    seconds: float  # from the start of the cluster to this worker's exit


def argv(runner: str, flag_values: Dict) -> List[str]:
    return [sys.executable, str(ROOT / "tests" / "kill_at.py"), runner] + [
        f"--{k}={v}" for k, v in flag_values.items()]


def run_cluster(runner: str, flag_values: Dict, work: pathlib.Path, num_workers: int = 2,
                kill_at: Optional[Dict[int, str]] = None, signal_name: str = "KILL",
                ports: Optional[List[int]] = None, start: Optional[List[int]] = None,
                timeout: float = 600) -> List[Finished]:
    """Runs `runner` with `flag_values` on `num_workers` workers (only those of `start`, when
    given) and waits for all; `kill_at` maps a worker index to its BERT_TF_KILL_AT. Worker i's
    TMPDIR is work/tmp-<i>; its stderr is kept in work/worker-<i>.log too."""
    ports = ports or free_ports(num_workers)
    processes, logs, began = {}, {}, time.time()
    for i in (range(num_workers) if start is None else start):
        tmp = work / f"tmp-{i}"
        tmp.mkdir(parents=True, exist_ok=True)
        env = dict(ENV, TF_CONFIG=tf_config(ports, i), TMPDIR=str(tmp))
        if kill_at and i in kill_at:
            env.update(BERT_TF_KILL_AT=kill_at[i], BERT_TF_KILL_SIGNAL=signal_name)
        logs[i] = open(work / f"worker-{i}.log", "w+", encoding="utf-8")
        processes[i] = subprocess.Popen(argv(runner, flag_values), cwd=ROOT, env=env,
                                        stdout=subprocess.DEVNULL, stderr=logs[i], text=True)
    finished = {}
    try:
        for i, process in processes.items():
            process.wait(timeout=max(1.0, timeout - (time.time() - began)))
            finished[i] = time.time() - began
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    results = []
    for i, process in processes.items():
        logs[i].seek(0)
        results.append(Finished(process.returncode, logs[i].read(),
                                finished.get(i, float("inf"))))
        logs[i].close()
    return results


def run_alone(runner: str, flag_values: Dict, env_extra: Optional[Dict] = None,
              timeout: float = 600) -> subprocess.CompletedProcess:
    """One process, no TF_CONFIG (the reference a cluster must match)."""
    env = {k: v for k, v in ENV.items() if k != "TF_CONFIG"}
    return subprocess.run(argv(runner, flag_values), cwd=ROOT, env=dict(env, **(env_extra or {})),
                          capture_output=True, text=True, timeout=timeout)
