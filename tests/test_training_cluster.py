"""bert_tf.training.cluster: TF_CONFIG checked before TensorFlow reads it, and TensorFlow's
cluster errors told as one line naming the worker (messages as TF 2.21 words them)."""

import json

import pytest

from bert_tf.errors import InputError
from bert_tf.training.cluster import (Cluster, join_failure, lost_worker, read_cluster,
                                      read_tf_config, tasks_named)

TWO = {"worker": ["10.0.0.1:2222", "10.0.0.2:2222"]}


def _read(config):
    return read_tf_config({"TF_CONFIG": config if isinstance(config, str) else json.dumps(config)})


def test_unset_or_empty_is_no_cluster():
    assert read_tf_config({}) is None and read_tf_config({"TF_CONFIG": "  "}) is None


def test_a_cluster_of_one_worker_trains_alone():
    one = {"TF_CONFIG": json.dumps({"cluster": {"worker": ["h:1"]},
                                    "task": {"type": "worker", "index": 0}})}
    assert read_tf_config(one).num_workers == 1 and read_cluster(one) is None
    two = {"TF_CONFIG": json.dumps({"cluster": TWO, "task": {"type": "worker", "index": 1}})}
    assert read_cluster(two) == read_tf_config(two)


def test_the_chief_is_chief_0_else_worker_0():
    cluster = _read({"cluster": TWO, "task": {"type": "worker", "index": 1}})
    assert cluster == Cluster({"worker": tuple(TWO["worker"])}, "worker", 1)
    assert cluster.num_workers == 2 and not cluster.is_chief and cluster.chief == ("worker", 0)
    assert cluster.me == "worker 1 (10.0.0.2:2222)"
    with_chief = _read({"cluster": dict(TWO, chief=["10.0.0.9:2222"]),
                        "task": {"type": "worker", "index": 0}})
    assert with_chief.num_workers == 3 and not with_chief.is_chief
    assert with_chief.chief == ("chief", 0)


@pytest.mark.parametrize("config, expected", [
    ('{"cluster": ', "not valid JSON (Expecting value at character 11)"),
    ("[1, 2]", 'no "cluster" mapping each task type to its addresses'),
    ({"cluster": {}, "task": {"type": "worker", "index": 0}}, 'no "cluster" mapping'),
    ({"cluster": {"ps": ["h:1"]}, "task": {"type": "ps", "index": 0}},
     'cluster task type "ps" is not one multi_worker_mirrored trains with (chief, worker)'),
    ({"cluster": {"worker": "h:1"}, "task": {"type": "worker", "index": 0}},
     'cluster "worker" must be a list of "host:port" addresses'),
    ({"cluster": {"worker": ["h"]}, "task": {"type": "worker", "index": 0}},
     "cluster \"worker\" address 'h' is not \"host:port\""),
    ({"cluster": {"chief": ["a:1", "b:1"]}, "task": {"type": "chief", "index": 0}},
     "2 chiefs: a cluster has at most one"),
    ({"cluster": TWO}, 'no "task" with this process\'s "type" and "index"'),
    ({"cluster": TWO, "task": {"type": "evaluator", "index": 0}},
     'task type "evaluator" is not one multi_worker_mirrored trains with'),
    ({"cluster": TWO, "task": {"type": "chief", "index": 0}},
     'task type "chief" has no addresses in the cluster'),
    ({"cluster": TWO, "task": {"type": "worker", "index": 2}},
     'task index 2: the cluster has 2 "worker" task(s), numbered from 0'),
    ({"cluster": TWO, "task": {"type": "worker", "index": "1"}}, "task index '1'"),
])
def test_a_bad_tf_config_names_what_is_wrong(config, expected):
    with pytest.raises(InputError) as error:
        _read(config)
    message = str(error.value)
    assert message.startswith("TF_CONFIG: ") and expected in message, message
    assert message.endswith('"task": {"type": "worker", "index": 0}}')  # an example


def test_a_missing_worker_is_named_from_the_barrier_timeout():
    chief = _read({"cluster": TWO, "task": {"type": "worker", "index": 0}})
    error = RuntimeError(
        "Barrier timed out. Id: [Init]Wait_for_all_tasks_to_register::0. ...\n# of tasks "
        "that reached the barrier: 1/2.\nThe first task at the barrier: "
        "/job:worker/replica:0/task:0. Some timed out task names:\n/job:worker/replica:0/task:1\n")
    assert str(join_failure(chief, error, 30)) == (
        "TF_CONFIG: worker 1 (10.0.0.2:2222) did not join the cluster within "
        "--worker_timeout_secs=30: start it with its own TF_CONFIG, or check its address "
        "and that the port is open")
    worker = _read({"cluster": TWO, "task": {"type": "worker", "index": 1}})
    assert str(join_failure(worker, RuntimeError("Deadline Exceeded"), 30)).startswith(
        "TF_CONFIG: could not join the cluster of the chief, worker 0 (10.0.0.1:2222), "
        "within --worker_timeout_secs=30")


def test_a_lost_worker_is_named_and_other_errors_are_left_alone():
    chief = _read({"cluster": TWO, "task": {"type": "worker", "index": 0}})
    error = RuntimeError(
        "Collective ops is aborted by: Error reported from /job:worker/task:1: The following "
        "tasks are unhealthy (stopped sending heartbeats):\n/job:worker/replica:0/task:1\n")
    assert str(lost_worker(chief, error)) == (
        "worker 1 (10.0.0.2:2222) of the cluster was lost (it stopped answering: killed, "
        "crashed or its machine went down); worker 0 (10.0.0.1:2222) stopped too")
    assert lost_worker(chief, RuntimeError("Incompatible shapes: [8,2] vs. [4,2]")) is None


def test_tasks_named_in_order_once_each():
    assert tasks_named("/job:worker/replica:0/task:1 x /job:chief/replica:0/task:0 "
                       "/job:worker/replica:0/task:1") == [("worker", 1), ("chief", 0)]
