"""Where and in what precision a run computes: tf.distribute strategies by name, and mixed
precision (with the rule `auto` uses to pick one for the hardware at hand)."""

from typing import Optional

import tensorflow as tf
import tf_keras
from absl import logging

from bert_tf.errors import InputError
from bert_tf.training import cluster as cluster_lib

STRATEGIES = ("one_device", "mirrored", "multi_worker_mirrored", "tpu")
MIXED_PRECISION = {"": None, "none": None, "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


# How long workers wait for each other by default (--worker_timeout_secs): machines of one
# job are seldom started more than a few minutes apart.
DEFAULT_WORKER_TIMEOUT_SECONDS = 600


def create_strategy(name: str, *, num_gpus: Optional[int] = None, tpu_name=None,
                    tpu_zone=None, gcp_project=None,
                    worker_timeout_secs: int = DEFAULT_WORKER_TIMEOUT_SECONDS
                    ) -> tf.distribute.Strategy:
    """Builds a tf.distribute strategy by name.

    one_device: the first GPU, else the CPU. mirrored: `num_gpus` GPUs (all when None); with
    no GPU, every logical CPU device (how the tests run it). multi_worker_mirrored: the
    cluster of the TF_CONFIG environment variable (checked first; see `cluster`), each
    worker waiting up to `worker_timeout_secs` for the others; without TF_CONFIG, this
    machine alone. tpu: the TPU named by `tpu_name`/`tpu_zone`/`gcp_project`.

    Raises:
        InputError: a bad TF_CONFIG, or a worker that did not join in time.
    """
    if name == "multi_worker_mirrored":
        # Before anything starts TensorFlow's runtime (listing logical devices does): the
        # collectives of a cluster can only be configured while it is not yet running.
        return _multi_worker_strategy(bool(tf.config.list_physical_devices("GPU")),
                                      worker_timeout_secs)
    if cluster_lib.read_tf_config() is not None:
        logging.warning("TF_CONFIG is set but --distribution_strategy=%s ignores it: this "
                        "process trains alone (multi_worker_mirrored reads it)", name)
    gpus = tf.config.list_logical_devices("GPU")
    if num_gpus is not None:
        if num_gpus > len(gpus):
            raise InputError(f"--num_gpus={num_gpus}: this machine has {len(gpus)} GPU(s) "
                             f"that TensorFlow can use{'' if gpus else ' (none)'}")
        if num_gpus > 1 and name != "mirrored":
            raise InputError(f"--num_gpus={num_gpus} needs --distribution_strategy=mirrored "
                             f"(--distribution_strategy={name} runs on one device or from "
                             "its own cluster spec)")
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        devices = [d.name for d in gpus[:num_gpus or len(gpus)]] if gpus else \
            [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if name == "tpu":
        return _tpu_strategy(tpu_name, tpu_zone, gcp_project)
    raise ValueError(f"unknown distribution strategy {name!r}; expected one of "
                     f"{', '.join(STRATEGIES)}")


def _multi_worker_strategy(has_gpus, timeout_seconds):
    cluster = cluster_lib.read_cluster()
    if timeout_seconds < 1:
        raise InputError(f"--worker_timeout_secs={timeout_seconds}: expected at least 1")
    if cluster is not None:
        cluster_lib.configure_coordination(cluster, timeout_seconds)
        logging.info("Cluster of %d workers; this is %s%s; waiting up to %d s for the others",
                     cluster.num_workers, cluster.me, " (the chief)" if cluster.is_chief else "",
                     timeout_seconds)
    # CPUs all-reduce over gRPC rings; GPUs let TensorFlow pick (NCCL).
    implementation = (tf.distribute.experimental.CommunicationImplementation.AUTO if has_gpus
                      else tf.distribute.experimental.CommunicationImplementation.RING)
    try:
        return tf.distribute.MultiWorkerMirroredStrategy(
            communication_options=tf.distribute.experimental.CommunicationOptions(
                implementation=implementation))
    except (tf.errors.DeadlineExceededError, tf.errors.UnavailableError) as e:
        if cluster is None:
            raise
        raise cluster_lib.join_failure(cluster, e, timeout_seconds) from None


def _tpu_strategy(tpu_name, tpu_zone, gcp_project):
    """The TPUStrategy of the named (or the local) TPU; InputError when there is none."""
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
            tpu=tpu_name, zone=tpu_zone, project=gcp_project)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.OpError) as e:
        cause = (getattr(e, "message", None) or str(e)).strip().splitlines()[0]
        raise InputError(f"--use_tpu / --distribution_strategy=tpu: no TPU found"
                         f"{f' named {tpu_name!r}' if tpu_name else ''} ({cause}); give "
                         "--tpu_name, or train without --use_tpu") from None
    return tf.distribute.TPUStrategy(resolver)


def _cpu_has_native_bf16() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu_flags = set(f.read().split())
    except OSError:
        return False
    return bool(cpu_flags & {"avx512_bf16", "amx_bf16"})


# On a CPU, bf16 pays once the matmuls outweigh the casts and the element-wise work it
# leaves in float32: measured (benchmarks/precision_auto.py, AVX512_BF16, batch 32 x 128)
# 0.94-1.06x of float32 at hidden size 64, 1.24-1.28x at 128, 1.39x at 256 and more above.
# Below this hidden size `auto` keeps float32.
CPU_BF16_MIN_HIDDEN_SIZE = 128


def resolve_mixed_precision(mode: str, hidden_size: Optional[int] = None) -> str:
    """"auto" -> "bf16" on GPUs of compute capability 8.0+, "fp16" on GPUs of 7.x (tensor
    cores without bf16); on a CPU "bf16" with AVX512_BF16/AMX for an encoder of
    `hidden_size` >= CPU_BF16_MIN_HIDDEN_SIZE (or unknown), else "" (float32). Other modes
    are returned unchanged."""
    if mode != "auto":
        return mode
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0]).get(
            "compute_capability", (0, 0))
        return "bf16" if capability >= (8, 0) else "fp16" if capability >= (7, 0) else ""
    if hidden_size is not None and hidden_size < CPU_BF16_MIN_HIDDEN_SIZE:
        return ""
    return "bf16" if _cpu_has_native_bf16() else ""


def set_mixed_precision(mode: str, hidden_size: Optional[int] = None) -> str:
    """"" (float32), "bf16", "fp16" (with dynamic loss scaling) or "auto" (see
    `resolve_mixed_precision`: `hidden_size` is the encoder's); set before building. Returns
    the mode used."""
    mode = resolve_mixed_precision(mode, hidden_size)
    if mode == "bf16" and not tf.config.list_physical_devices("GPU") \
            and not _cpu_has_native_bf16():
        logging.warning("bf16 on a CPU without AVX512_BF16/AMX is emulated and slower "
                        "than float32")
    tf_keras.mixed_precision.set_global_policy(MIXED_PRECISION[mode] or "float32")
    logging.info("Precision: %s", MIXED_PRECISION[mode] or "float32")
    return mode
