"""The machine line every benchmark prints: CPU, cores (and memory), library versions."""

import os
import platform


def cpu_model():
    """The CPU's model name from /proc/cpuinfo (else what `platform` knows)."""
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return cpu


def machine_info(with_memory=False, transformers_note=""):
    """"<CPU>, <n> cores[, <m> GiB]; Python ..., TensorFlow ..., tf-keras ..., transformers ...".

    TensorFlow is imported here, not at the top, so memory.py's parent process, which must
    not load it, can import this module too.
    """
    import tensorflow as tf
    import tf_keras
    import transformers

    hardware = f"{cpu_model()}, {os.cpu_count()} cores"
    if with_memory:
        with open("/proc/meminfo", encoding="utf-8") as f:
            total = int(f.readline().split()[1]) * 1024   # MemTotal, kB
        hardware += f", {total / 2 ** 30:.0f} GiB"
    return (f"{hardware}; Python {platform.python_version()}, TensorFlow {tf.__version__}, "
            f"tf-keras {tf_keras.__version__}, transformers {transformers.__version__}"
            f"{transformers_note}")
