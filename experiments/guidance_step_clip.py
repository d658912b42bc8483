"""Probe (issue 10, 3D Table 1): does a trust region on the guidance step stop the early K collapse?

Runs ``matdesign design`` with the sampler's guidance gradient scaled, per sample, so that the step
``grad_scale · ∇J`` has an RMS of at most ``C · σ_t`` (σ_t = sqrt(1 − ᾱ_t)); C = inf is the shipped
sampler. Prints J, the FEM seconds and the clip factor of every step. A probe for docs/results.md, not
a package feature: if it holds up, the clip becomes a ``GuidanceConfig`` option.

    python experiments/guidance_step_clip.py --dim 3 --target-K 58.63 --clip 0.01
"""

import argparse

import torch

from matdesign.cli.main import main as cli
from matdesign.guidance import sampler
from matdesign.guidance.sampler import GuidanceConfig


def clipped(clip: float, guidance_gradient):
    scale = torch.tensor(GuidanceConfig().grad_scale)

    def step(unet, x_t, t_batch, alpha_bar, *args, **kwargs):
        st = guidance_gradient(unet, x_t, t_batch, alpha_bar, *args, **kwargs)
        g = st.grad
        rms = (scale.view(1, 3, *([1] * (g.dim() - 2))) * g).pow(2).flatten(1).mean(1).sqrt()
        factor = torch.clamp(clip * float(1 - alpha_bar) ** 0.5 / rms.clamp_min(1e-30), max=1.0)
        g.mul_(factor.view(-1, *([1] * (g.dim() - 1))))
        print(f"J={st.loss.numpy().round(1)} fem={st.fem_seconds:.1f}s clip={factor.numpy().round(3)}", flush=True)
        return st

    return step


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dim", default="3")
    p.add_argument("--target-K", default="58.63")
    p.add_argument("--clip", type=float, default=0.01, help="C: step RMS ≤ C·σ_t (inf: no clip)")
    p.add_argument("--samples", default="4")
    p.add_argument("--out", default="/tmp/guidance-step-clip")
    a = p.parse_args()
    sampler.guidance_gradient = clipped(a.clip, sampler.guidance_gradient)
    cli(["design", "--dim", a.dim, "--target-K", a.target_K, "--samples", a.samples, "--steps", "50",
         "--seed", "0", "--no-refine", "--out", a.out])
