"""What GPU failures look like in a step's output: out of memory, or a driver that does not fit.

Pure. CUDA out of memory is the code's to fix (a smaller batch, fewer tensors kept alive);
a missing, broken or too old driver is the runner's, and no code change fixes it.
"""

from __future__ import annotations

import re

# torch.cuda.OutOfMemoryError (torch >= 1.13) and torch.OutOfMemoryError (>= 2.5); older
# torch raised RuntimeError with the same "CUDA out of memory. Tried to allocate ..." text.
OOM_EXCEPTIONS = frozenset({"OutOfMemoryError"})
_OOM = re.compile(
    r"CUDA out of memory"
    r"|CUDA error: out of memory"
    r"|CUDA_ERROR_OUT_OF_MEMORY"
    r"|cudaErrorMemoryAllocation"
    r"|RESOURCE_EXHAUSTED: Out of memory"  # JAX / XLA
    r"|OOM when allocating tensor"  # TensorFlow
)

# The CUDA runtime, the driver, NVML and torch saying the machine cannot run CUDA code.
_DRIVER = re.compile(
    r"CUDA driver version is insufficient for CUDA runtime version"
    r"|NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver"
    r"|Failed to initialize NVML"  # e.g. "Driver/library version mismatch"
    r"|Driver/library version mismatch"
    r"|Found no NVIDIA driver on your system"
    r"|The NVIDIA driver on your system is too old"
    r"|no CUDA-capable device is detected"
    r"|CUDA driver initialization failed"
    r"|forward compatibility was attempted on non supported HW"
    r"|system has unsupported display driver / cuda driver combination"
    r"|CUDA unknown error - this may be due to an incorrectly set up environment"
    r"|no kernel image is available for execution on the device"
    r"|Torch not compiled with CUDA enabled"
    r"|CUDA_ERROR_(?:NO_DEVICE|INSUFFICIENT_DRIVER|SYSTEM_DRIVER_MISMATCH|COMPAT_NOT_SUPPORTED_ON_DEVICE)"
    r"|cudaError(?:NoDevice|InsufficientDriver|SystemDriverMismatch|CompatNotSupportedOnDevice)"
)


def is_gpu_oom(exc_type: str, message: str) -> bool:
    """The exception is CUDA (or another accelerator) running out of memory."""
    name = exc_type.rsplit(".", 1)[-1]
    return name in OOM_EXCEPTIONS or bool(_OOM.search(message))


def driver_problem(text: str) -> str | None:
    """The line of `text` that says the GPU driver is missing or does not fit, if any."""
    found = _DRIVER.search(text)
    if found is None:
        return None
    start = text.rfind("\n", 0, found.start()) + 1
    end = text.find("\n", found.end())
    return text[start : end if end >= 0 else len(text)].strip()
