"""Device, precision and GPU-memory helpers (the one seam between the pipeline and CUDA)."""

from __future__ import annotations

import contextlib
from typing import Iterator

import structlog
import torch

from ..errors import ModelError

log = structlog.get_logger(__name__)

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
GIB = 1024**3


def resolve_device(name: str) -> torch.device:
    """``auto`` → the first CUDA GPU if there is one, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(
            f"model.device is '{name}' but PyTorch sees no CUDA GPU "
            f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'no'})",
            fix="install the NVIDIA driver / a CUDA build of torch, or set model.device: auto",
        )
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ModelError(
            f"model.device is '{name}' but only {torch.cuda.device_count()} GPU(s) exist",
            fix="use cuda:0 (or auto)",
        )
    return device


def resolve_dtype(name: str, device: torch.device, what: str) -> torch.dtype:
    """The configured precision, except that half precision on the CPU becomes float32.

    CPU kernels for float16 are slow or missing; the result is the same picture at the
    precision the CPU actually computes well. It is logged, and recorded in metadata.
    """
    dtype = DTYPES[name]
    if device.type == "cpu" and dtype != torch.float32:
        log.info("half precision is a GPU feature; using float32 on the CPU", stage=what, asked=name)
        return torch.float32
    return dtype


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def vram_budget_bytes(budget: float | str, device: torch.device) -> int | None:
    """Bytes the job may use on ``device``: the configured GiB, or what is free for ``auto``.

    None on the CPU (no budget applies).
    """
    if device.type != "cuda":
        return None
    free, total = torch.cuda.mem_get_info(device)
    if budget == "auto":
        return int(free + torch.cuda.memory_reserved(device))
    return int(min(float(budget) * GIB, total))


def peak_vram_gib(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    return round(torch.cuda.max_memory_allocated(device) / GIB, 3)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def release_cache(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


def is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, torch.cuda.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
    )


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    with torch.inference_mode():
        yield
