"""Checks every stage's picture before the next stage starts (fail loud, early).

Pictures travel between stages as ``float32`` arrays of shape ``(H, W, 3)`` in [0, 1].
Measures are on luma in 0-255 units so thresholds read like ordinary image statistics:

- ``std``: standard deviation of luma; near zero means a blank (black, grey, white) picture;
- ``sharpness``: variance of the 4-neighbour Laplacian of luma (the classic focus measure);
- ``detail``: share of pixels whose gradient magnitude exceeds 8 (a visible edge).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..config.schema import ValidationConfig
from ..errors import ValidationError

EDGE_THRESHOLD = 8.0


def luma(image):
    """Rec. 709 luma in 0-255 (an ``(H, W, 3)`` array or tensor in [0, 1])."""
    return (image[..., 0] * 0.2126 + image[..., 1] * 0.7152 + image[..., 2] * 0.0722) * 255.0


def measure(image: np.ndarray, device: torch.device | str = "cpu") -> dict[str, float]:
    """Statistics recorded for every stage (see module docstring), computed on ``device``
    (the job's GPU: an 8K picture costs milliseconds there, about 2 s on a 2-core CPU)."""
    y = luma(torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).to(device))
    lap = y[1:-1, :-2] + y[1:-1, 2:] + y[:-2, 1:-1] + y[2:, 1:-1] - 4.0 * y[1:-1, 1:-1]
    gx = y[1:-1, 2:] - y[1:-1, :-2]
    gy = y[2:, 1:-1] - y[:-2, 1:-1]
    edges = (gx * gx + gy * gy) > (2.0 * EDGE_THRESHOLD) ** 2  # gradient magnitude / 2 > threshold
    var, mean = torch.var_mean(y, correction=0)
    return {
        "std": float(var.sqrt()),
        "mean": float(mean),
        "sharpness": float(torch.var(lap, correction=0)),
        "detail": float(edges.sum()) / edges.numel(),
    }


def validate_image(
    stage: str,
    image: Any,
    expected_size: tuple[int, int],
    limits: ValidationConfig,
    diagnostics: dict[str, Any] | None = None,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """Raise ValidationError unless ``image`` is the expected, finite, non-blank picture.

    ``expected_size`` is ``(width, height)``. Returns the measures for the metadata.
    """
    diagnostics = dict(diagnostics or {})
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", type(image).__name__)
        raise ValidationError(stage, f"expected an RGB picture, got {shape}", diagnostics=diagnostics)
    height, width = image.shape[:2]
    if (width, height) != tuple(expected_size):
        raise ValidationError(
            stage,
            f"picture is {width}x{height}, expected {expected_size[0]}x{expected_size[1]}",
            diagnostics=diagnostics,
        )
    finite = np.isfinite(image)
    if not finite.all():
        bad = int(image.size - finite.sum())
        raise ValidationError(
            stage,
            f"{bad} values are NaN or infinite (numerical overflow; in half precision this is "
            "usually the VAE)",
            diagnostics=diagnostics,
            fix="use dtype float32 or bfloat16 for this stage, or an fp16-fixed VAE (model.vae)",
        )
    figures = measure(image, device)
    diagnostics["measures"] = figures
    if figures["std"] < limits.min_std:
        raise ValidationError(
            stage,
            f"picture is blank: luma std {figures['std']:.3f} < validation.min_std "
            f"{limits.min_std} (mean luma {figures['mean']:.1f})",
            diagnostics=diagnostics,
            fix="check the model weights and prompt; lower validation.min_std only if the picture "
            "is meant to be flat",
        )
    if figures["sharpness"] < limits.min_sharpness:
        raise ValidationError(
            stage,
            f"picture is too blurred: Laplacian variance {figures['sharpness']:.3f} < "
            f"validation.min_sharpness {limits.min_sharpness}",
            diagnostics=diagnostics,
            fix="check the stage's settings; lower validation.min_sharpness for soft styles",
        )
    if figures["detail"] < limits.min_detail:
        raise ValidationError(
            stage,
            f"picture has too little detail: edge share {figures['detail']:.4f} < "
            f"validation.min_detail {limits.min_detail}",
            diagnostics=diagnostics,
            fix="lower validation.min_detail for minimal styles",
        )
    return figures
