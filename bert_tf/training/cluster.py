"""Several machines, one run: the cluster TF_CONFIG describes, checked before TensorFlow
reads it; which worker this process is and where it may write; TensorFlow's errors about
the cluster told in one line that names the worker.

    TF_CONFIG='{"cluster": {"worker": ["10.0.0.1:2222", "10.0.0.2:2222"]},
                "task": {"type": "worker", "index": 0}}'

The chief (task "chief" 0, else "worker" 0) writes output_dir; every other worker writes
what it must write into a scratch directory of its own, removed when it exits, as the
TF multi-worker guide prescribes, so no file is ever written by two processes.
"""

import atexit
import dataclasses
import json
import os
import re
import shutil
import tempfile
from typing import Dict, List, Optional, Tuple

from bert_tf.errors import InputError

TF_CONFIG = "TF_CONFIG"
# The task types MultiWorkerMirroredStrategy trains with (no parameter servers, evaluators).
TRAINING_JOBS = ("chief", "worker")
# A worker that sends no heartbeat for this long (or for --worker_timeout_secs, if shorter)
# is reported lost: long enough for a busy machine, short enough not to look like a hang.
MAX_HEARTBEAT_SECONDS = 30

_TASK_RE = re.compile(r"/job:(\w+)/replica:\d+/task:(\d+)")


class ClusterError(RuntimeError):
    """A worker of the cluster was lost or never joined; the message names it."""


@dataclasses.dataclass(frozen=True)
class Cluster:
    """The cluster of TF_CONFIG and this process's place in it."""

    jobs: Dict[str, Tuple[str, ...]]  # task type -> addresses ("host:port")
    task_type: str
    task_index: int

    @property
    def num_workers(self) -> int:
        return sum(len(self.jobs.get(job, ())) for job in TRAINING_JOBS)

    @property
    def chief(self) -> Tuple[str, int]:
        return ("chief", 0) if self.jobs.get("chief") else ("worker", 0)

    @property
    def is_chief(self) -> bool:
        return (self.task_type, self.task_index) == self.chief

    def describe(self, task_type: str, index: int) -> str:
        """"worker 1 (10.0.0.2:2222)"."""
        addresses = self.jobs.get(task_type, ())
        where = f" ({addresses[index]})" if index < len(addresses) else ""
        return f"{task_type} {index}{where}"

    @property
    def me(self) -> str:
        return self.describe(self.task_type, self.task_index)


def _bad(detail: str) -> InputError:
    return InputError(f"{TF_CONFIG}: {detail}; expected e.g. "
                      '{"cluster": {"worker": ["host1:2222", "host2:2222"]}, '
                      '"task": {"type": "worker", "index": 0}}')


def read_tf_config(environ=None) -> Optional[Cluster]:
    """The cluster of the TF_CONFIG environment variable; None when it is unset or empty.

    Raises:
        InputError: malformed JSON, no cluster or task, a task type other than chief or
            worker, an index outside its job, an address that is not host:port.
    """
    raw = (os.environ if environ is None else environ).get(TF_CONFIG, "").strip()
    if not raw:
        return None
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as e:
        raise _bad(f"not valid JSON ({e.msg} at character {e.pos})") from None
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict) \
            or not config["cluster"]:
        raise _bad('no "cluster" mapping each task type to its addresses')
    jobs = {}
    for job, addresses in config["cluster"].items():
        if job not in TRAINING_JOBS:
            raise _bad(f'cluster task type "{job}" is not one multi_worker_mirrored trains '
                       f"with (chief, worker)")
        if isinstance(addresses, str) or not isinstance(addresses, list) or not addresses:
            raise _bad(f'cluster "{job}" must be a list of "host:port" addresses')
        for address in addresses:
            if not (isinstance(address, str) and re.fullmatch(r"[^\s:]+:\d+", address)):
                raise _bad(f'cluster "{job}" address {address!r} is not "host:port"')
        jobs[job] = tuple(addresses)
    if len(jobs.get("chief", ())) > 1:
        raise _bad(f'{len(jobs["chief"])} chiefs: a cluster has at most one')
    task = config.get("task")
    if not isinstance(task, dict) or "type" not in task:
        raise _bad('no "task" with this process\'s "type" and "index"')
    task_type, index = task["type"], task.get("index", 0)
    if task_type not in TRAINING_JOBS:
        raise _bad(f'task type "{task_type}" is not one multi_worker_mirrored trains with '
                   "(chief, worker)")
    if task_type not in jobs:
        raise _bad(f'task type "{task_type}" has no addresses in the cluster')
    if not isinstance(index, int) or isinstance(index, bool) or \
            not 0 <= index < len(jobs[task_type]):
        raise _bad(f'task index {index!r}: the cluster has {len(jobs[task_type])} '
                   f'"{task_type}" task(s), numbered from 0')
    return Cluster(jobs, task_type, index)


def read_cluster(environ=None) -> Optional[Cluster]:
    """The cluster of TF_CONFIG when it has several workers; None for a process that trains
    alone (no TF_CONFIG, or a cluster of one). Raises InputError as `read_tf_config`."""
    cluster = read_tf_config(environ)
    return cluster if cluster is not None and cluster.num_workers > 1 else None


def configure_coordination(cluster: Cluster, timeout_seconds: int) -> None:
    """Sets how long the cluster waits for its workers, before the strategy starts it.

    Every worker waits up to `timeout_seconds` for all the others to join (the chief runs
    the coordination service the others register with) and at the end for all to finish; a
    worker that sends no heartbeat for min(timeout, MAX_HEARTBEAT_SECONDS) is declared
    lost and every collective of the others is aborted. MultiWorkerMirroredStrategy
    configures the coordination service only when it is not yet configured, with no
    timeout on joining: a peer that never starts would hang the others for good.
    """
    # The public API has no way to set these timeouts: the strategy itself calls this.
    from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
    from tensorflow.python.eager import context

    chief_type, chief_index = cluster.chief
    milliseconds = timeout_seconds * 1000
    context.context().configure_coordination_service(
        service_type="standalone",
        service_leader=f"/job:{chief_type}/replica:0/task:{chief_index}",
        cluster_register_timeout_in_ms=milliseconds,
        heartbeat_timeout_in_ms=min(timeout_seconds, MAX_HEARTBEAT_SECONDS) * 1000,
        shutdown_barrier_timeout_in_ms=milliseconds,
        coordinated_jobs=[coordination_config_pb2.CoordinatedJob(name=job, num_tasks=len(a))
                          for job, a in cluster.jobs.items()])
    # Without the barrier the chief's service waits for missing workers with no deadline
    # (seen with TF 2.21: a lone chief waited past 75 s on a 15 s register timeout).
    context.context().coordination_service.cluster_register_with_barrier = True


def tasks_named(message: str) -> List[Tuple[str, int]]:
    """The (task type, index) pairs a TensorFlow error message names, in order, once each."""
    found = []
    for job, index in _TASK_RE.findall(message):
        if (job, int(index)) not in found:
            found.append((job, int(index)))
    return found


def join_failure(cluster: Cluster, error: Exception, timeout_seconds: int) -> InputError:
    """The one-line error for a cluster that did not come together within the timeout."""
    message = getattr(error, "message", None) or str(error)
    missing = [t for t in tasks_named(message.split("timed out task names", 1)[-1])
               if t != (cluster.task_type, cluster.task_index)]
    if "timed out task names" in message and missing:
        who = ", ".join(cluster.describe(*t) for t in missing)
        return InputError(
            f"{TF_CONFIG}: {who} did not join the cluster within --worker_timeout_secs="
            f"{timeout_seconds}: start it with its own {TF_CONFIG}, or check its address "
            "and that the port is open")
    if not cluster.is_chief:
        return InputError(
            f"{TF_CONFIG}: could not join the cluster of the chief, "
            f"{cluster.describe(*cluster.chief)}, within --worker_timeout_secs="
            f"{timeout_seconds}: start the chief, or check its address and that the port "
            "is open")
    first_line = message.strip().splitlines()[0] if message.strip() else type(error).__name__
    return InputError(f"{TF_CONFIG}: the cluster did not come together within "
                      f"--worker_timeout_secs={timeout_seconds} ({first_line})")


def lost_worker(cluster: Cluster, error: Exception) -> Optional[ClusterError]:
    """The ClusterError for a TensorFlow error that says a peer died; None for any other."""
    message = getattr(error, "message", None) or str(error)
    if not any(cause in message for cause in (
            "unhealthy", "stopped sending heartbeats", "Collective ops is aborted",
            "cluster check alive failed", "Socket closed", "Connection reset",
            "failed to connect", "coordination service")):
        return None
    others = [t for t in tasks_named(message) if t != (cluster.task_type, cluster.task_index)]
    who = (", ".join(cluster.describe(*t) for t in others) if others else
           "a worker" if cluster.is_chief else f"the chief, {cluster.describe(*cluster.chief)}")
    return ClusterError(f"{who} of the cluster was lost (it stopped answering: killed, "
                        f"crashed or its machine went down); {cluster.me} stopped too")


_scratch: List[str] = []


def scratch_dir(cluster: Cluster) -> str:
    """This worker's own directory for what it must write, removed when the process exits
    (made once per process)."""
    if not _scratch:
        path = tempfile.mkdtemp(prefix=f"bert-tf-{cluster.task_type}-{cluster.task_index}-")
        atexit.register(shutil.rmtree, path, ignore_errors=True)
        _scratch.append(path)
    return _scratch[0]
