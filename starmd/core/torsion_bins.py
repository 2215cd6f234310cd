"""Torsion angles as categorical distributions over equal-width bins on the circle.

A regression head that outputs one (sin, cos) per torsion learns the *mean* direction of the
conditional distribution; for a side chain that may sit in two rotamer wells (say χ1 = 180° or
−60°) that mean lies between them, in an eclipsed, physically empty region, and an autoregressive
rollout that feeds it back drifts there. A categorical head learns the whole distribution, and the
rollout samples from it, so generated χ angles fall in the wells that the training data populate.

Bins: ``bins`` equal intervals of [−π, π); bin k covers [−π + k·w, −π + (k+1)·w), w = 2π/bins,
its centre is −π + (k + ½)·w. Angles are radians; torsions elsewhere in starmd are unit
(sin, cos) pairs ``[..., 2]``.
"""

from __future__ import annotations

import math

import torch


def bin_width(bins: int) -> float:
    """Width of one bin (radians)."""
    return 2.0 * math.pi / bins


def bin_centres(bins: int, dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """Bin centres [bins] (radians, in (−π, π))."""
    return -math.pi + (torch.arange(bins, dtype=dtype, device=device) + 0.5) * bin_width(bins)


def angle_to_bin(sincos: torch.Tensor, bins: int) -> torch.Tensor:
    """Bin index (long) ``[...]`` of torsions given as (sin, cos) ``[..., 2]``."""
    angle = torch.atan2(sincos[..., 0], sincos[..., 1])  # [−π, π]
    k = torch.floor((angle + math.pi) / bin_width(bins)).long()
    return k.clamp(0, bins - 1)  # angle = +π falls in the last bin, as −π does in the first


def expected_torsions(logits: torch.Tensor) -> torch.Tensor:
    """Circular mean of the distribution: logits ``[..., bins]`` → unit (sin, cos) ``[..., 2]``.

    Differentiable; the direction of Σ_k p_k (sin c_k, cos c_k).
    """
    c = bin_centres(logits.shape[-1], logits.dtype, logits.device)
    p = torch.softmax(logits, dim=-1)
    v = torch.stack([(p * torch.sin(c)).sum(-1), (p * torch.cos(c)).sum(-1)], dim=-1)
    return v / torch.linalg.norm(v, dim=-1, keepdim=True).clamp_min(1e-8)


def sample_torsions(logits: torch.Tensor, generator: torch.Generator | None = None,
                    temperature: float = 1.0) -> torch.Tensor:
    """Draw one torsion per distribution: logits ``[..., bins]`` → unit (sin, cos) ``[..., 2]``.

    A bin is drawn from softmax(logits / temperature) and the angle uniformly inside it. Sampling
    runs on the generator's device (CPU for a CPU generator); the result is returned on
    ``logits``' device and dtype.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    bins = logits.shape[-1]
    dev = generator.device if generator is not None else logits.device
    probs = torch.softmax(logits.detach().to(device=dev, dtype=torch.float64) / temperature, dim=-1)
    flat = probs.reshape(-1, bins)
    k = torch.multinomial(flat, 1, generator=generator).squeeze(-1)
    u = torch.rand(k.shape, generator=generator, dtype=torch.float64, device=dev)
    angle = (-math.pi + (k.double() + u) * bin_width(bins)).reshape(probs.shape[:-1])
    out = torch.stack([torch.sin(angle), torch.cos(angle)], dim=-1)
    return out.to(device=logits.device, dtype=logits.dtype)


__all__ = ["bin_width", "bin_centres", "angle_to_bin", "expected_torsions", "sample_torsions"]
