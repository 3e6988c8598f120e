"""TensorFlow's start-up settings for the runners, made before TensorFlow is imported.

TensorFlow's C++ side reads these environment variables once, when it loads, before any
Python logging filter could act. Each runner imports this module ahead of everything that
imports TensorFlow; a value the user set is never changed.

- TF_CPP_MIN_LOG_LEVEL=1: the C++ INFO lines go (CPU instruction sets, "XLA service ...
  initialized", "Memory patch applied", ...); C++ warnings and errors stay visible. Level 3
  would also hide the cuInit line below, and every real error with it.
- TF_ENABLED_DEVICE_TYPES=CPU, only where no GPU driver is installed (libcuda.so.1 cannot be
  loaded, no ROCm /dev/kfd) and no TPU or PluggableDevice package is: TensorFlow then never
  calls cuInit, which on such a machine fails with an ERROR line ("failed call to cuInit:
  ... UNKNOWN ERROR (303)") that is no error for a CPU run.

The lines TensorFlow writes before its logging starts ("All log messages before
absl::InitializeLog() ...", "Could not find cuda drivers ...") obey no setting and remain.
"""

import ctypes
import importlib.util
import os
import sys
import time
from typing import Dict, Mapping

# When the runner started (this module is its first import): the start of its phase times.
STARTED = time.time()


def gpu_driver_installed() -> bool:
    """Whether TensorFlow could use a GPU here: the CUDA driver library loads, or ROCm's
    kernel driver is there."""
    if os.path.exists("/dev/kfd"):
        return True
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


def other_accelerator_installed() -> bool:
    """A TPU runtime (libtpu) or a PluggableDevice (site-packages/tensorflow-plugins), which
    TF_ENABLED_DEVICE_TYPES=CPU would hide."""
    return importlib.util.find_spec("libtpu") is not None or any(
        os.path.isdir(os.path.join(path, "tensorflow-plugins")) for path in sys.path if path)


def tensorflow_settings(environ: Mapping[str, str], *, gpu_driver: bool,
                        other_accelerator: bool) -> Dict[str, str]:
    """The environment variables to add before TensorFlow loads (see the module docstring);
    none that `environ` already sets."""
    settings = {"TF_CPP_MIN_LOG_LEVEL": "1"}
    if not gpu_driver and not other_accelerator:
        settings["TF_ENABLED_DEVICE_TYPES"] = "CPU"
    return {name: value for name, value in settings.items() if name not in environ}


os.environ.update(tensorflow_settings(os.environ, gpu_driver=gpu_driver_installed(),
                                      other_accelerator=other_accelerator_installed()))
