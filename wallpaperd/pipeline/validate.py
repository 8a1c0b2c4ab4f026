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

from ..config.schema import ValidationConfig
from ..errors import ValidationError

EDGE_THRESHOLD = 8.0


def luma(image: np.ndarray) -> np.ndarray:
    """Rec. 709 luma in 0-255 (float32)."""
    return (image[..., 0] * 0.2126 + image[..., 1] * 0.7152 + image[..., 2] * 0.0722) * 255.0


def measure(image: np.ndarray) -> dict[str, float]:
    """Statistics recorded for every stage (see module docstring)."""
    y = luma(image.astype(np.float32, copy=False))
    lap = y[1:-1, :-2] + y[1:-1, 2:] + y[:-2, 1:-1] + y[2:, 1:-1] - 4.0 * y[1:-1, 1:-1]
    gx = y[1:-1, 2:] - y[1:-1, :-2]
    gy = y[2:, 1:-1] - y[:-2, 1:-1]
    grad = np.sqrt(gx * gx + gy * gy) * 0.5
    return {
        "std": float(y.std()),
        "mean": float(y.mean()),
        "sharpness": float(lap.var()),
        "detail": float((grad > EDGE_THRESHOLD).mean()),
    }


def validate_image(
    stage: str,
    image: Any,
    expected_size: tuple[int, int],
    limits: ValidationConfig,
    diagnostics: dict[str, Any] | None = None,
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
    figures = measure(image)
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
