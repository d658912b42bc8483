"""The denoising UNet of the paper (supplementary C), one definition for 1D/2D/3D grids.

Layout for the paper's channels (grid side S, divisible by 4):

    x (3, S) ─1×1 conv→ 8 ─[Res 8→32, Res 32→32]→ s₁ (32, S) ─avgpool→
      ─[Res 32→64, Res 64→64]→ s₂ (64, S/2) ─avgpool→
      mid (S/4): Res 64→128, Attn, Res 128→128, Attn, Res 128→64
      ─upsample→ [Res (64+s₂)→32, Res (32+s₂)→32] ─upsample→ [Res (32+s₁)→8, Res (8+s₁)→8]
      ─1×1 conv→ v (3, S)

The time step t ∈ [0, T) is embedded by diffusers' ``GaussianFourierProjection`` (16 features of
t/T) and ``TimestepEmbedding`` (2-layer SiLU MLP → 32). The conditional variant adds an embedding
of the normalized target K ∈ [−1, 1] (same construction) to the time embedding; NaN entries of
``cond`` select a learned null embedding (unconditional, for classifier-free guidance).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers.models.attention_processor import Attention
from diffusers.models.embeddings import GaussianFourierProjection, TimestepEmbedding
from torch import nn

from matdesign.diffusion.config import ModelConfig
from matdesign.errors import InputError

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_POOL = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}


class ResnetBlock(nn.Module):
    """diffusers' ``ResnetBlock2D`` (default settings) with convolutions of any dimension.

    h = conv1(SiLU(GN(x))) + W·SiLU(temb);  out = shortcut(x) + conv2(SiLU(GN(h))).
    Differs from diffusers only in being dims-agnostic and having no dropout/up/down options.
    """

    def __init__(self, dim: int, in_channels: int, out_channels: int, temb_channels: int, groups: int):
        super().__init__()
        conv = _CONV[dim]
        self.dim = dim
        self.norm1 = nn.GroupNorm(groups, in_channels, eps=1e-5)
        self.conv1 = conv(in_channels, out_channels, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb_channels, out_channels)
        self.norm2 = nn.GroupNorm(groups, out_channels, eps=1e-5)
        self.conv2 = conv(out_channels, out_channels, 3, padding=1)
        self.conv_shortcut = conv(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(F.silu(temb)).view(*temb.shape[:1], -1, *([1] * self.dim))
        h = self.conv2(F.silu(self.norm2(h)))
        return (x if self.conv_shortcut is None else self.conv_shortcut(x)) + h


def positional_encoding(grid: tuple[int, ...], channels: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Sinusoidal N-D positional encoding (channels, *grid), as tatp22/multidim-positional-encoding.

    Each spatial axis gets ``2·⌈channels/(2·dim)⌉`` channels of interleaved sin/cos of
    position·10000^(−2k/c); the concatenation is cut to ``channels``.
    """
    per_axis = 2 * math.ceil(channels / (2 * len(grid)))
    inv_freq = 1.0 / 10000 ** (torch.arange(0, per_axis, 2, device=device, dtype=torch.float32) / per_axis)
    parts = []
    for axis, n in enumerate(grid):
        angle = torch.arange(n, device=device, dtype=torch.float32)[:, None] * inv_freq
        emb = torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(1).T  # (per_axis, n)
        shape = [1] * len(grid)
        shape[axis] = n
        parts.append(emb.reshape(per_axis, *shape).expand(per_axis, *grid))
    return torch.cat(parts)[:channels].to(dtype)


class SelfAttention(nn.Module):
    """Multi-head self-attention over all grid positions, with a positional encoding.

    Wraps diffusers' ``Attention`` (GroupNorm on its input, as in diffusers' mid-block) on the
    flattened grid (B, N, C), which makes it dims-agnostic. Unlike diffusers' mid-block the
    positional encoding is added to the attention input only, and the residual is the bare input.
    """

    def __init__(self, channels: int, heads: int, groups: int):
        super().__init__()
        self.attn = Attention(
            channels, heads=heads, dim_head=channels // heads, norm_num_groups=groups, eps=1e-5,
            bias=True, upcast_softmax=True, residual_connection=False,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, *grid = x.shape
        h = x + positional_encoding(tuple(grid), c, x.device, x.dtype)
        h = self.attn(h.flatten(2).transpose(1, 2))
        return x + h.transpose(1, 2).reshape(b, c, *grid)


class ScalarEmbedding(nn.Module):
    """Gaussian Fourier features of a scalar followed by a 2-layer SiLU MLP (diffusers blocks)."""

    def __init__(self, features: int, scale: float, out_channels: int):
        super().__init__()
        self.proj = GaussianFourierProjection(features // 2, scale=scale, log=False, flip_sin_to_cos=True)
        self.mlp = TimestepEmbedding(features, out_channels, act_fn="silu")

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.proj(s.float()))


class UNet(nn.Module):
    """v-prediction UNet: ``unet(x (B, C, *grid), t (B,) or scalar, cond=None) -> v (B, C, *grid)``.

    Grid sides must be divisible by 2**len(block_channels) (4 for the paper's model).
    ``UNet(cfg)`` initialises parameters from torch's global RNG; use :func:`build_unet` for a
    seeded, side-effect-free initialisation.
    """

    def __init__(self, cfg: ModelConfig, num_train_timesteps: int = 1000):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.num_train_timesteps = int(num_train_timesteps)
        d, g, temb = cfg.dim, cfg.norm_groups, cfg.time_embed_dim
        conv = _CONV[d]
        self.conv_in = conv(cfg.in_channels, cfg.embed_channels, 1)
        self.time_embedding = ScalarEmbedding(cfg.fourier_features, cfg.fourier_scale, temb)
        if cfg.conditional:
            self.cond_embedding = ScalarEmbedding(cfg.fourier_features, 1.0, temb)
            self.null_cond = nn.Parameter(torch.zeros(temb))

        ins = [cfg.embed_channels, *cfg.block_channels[:-1]]
        self.down = nn.ModuleList()
        for c_in, c_out in zip(ins, cfg.block_channels):
            self.down.append(nn.ModuleList(
                ResnetBlock(d, c_in if i == 0 else c_out, c_out, temb, g) for i in range(cfg.layers_per_block)
            ))
        self.pool = _POOL[d](2)

        mids = [cfg.block_channels[-1], *cfg.mid_channels]
        self.mid_resnets = nn.ModuleList(ResnetBlock(d, a, b, temb, g) for a, b in zip(mids[:-1], mids[1:]))
        self.mid_attentions = nn.ModuleList(SelfAttention(c, cfg.attention_heads, g) for c in cfg.mid_channels[:-1])

        # Up path mirrors the down path: block i maps back to the input width of down block i and
        # concatenates that down block's output (the skip) to the input of each of its ResNets.
        self.up = nn.ModuleList()
        c = cfg.mid_channels[-1]
        for skip, c_out in zip(reversed(cfg.block_channels), reversed(ins)):
            blocks = []
            for _ in range(cfg.layers_per_block):
                blocks.append(ResnetBlock(d, c + skip, c_out, temb, g))
                c = c_out
            self.up.append(nn.ModuleList(blocks))
        # The paper projects the 8 embedding channels straight to the output (no final GroupNorm
        # as in diffusers' UNet2DModel: a per-channel norm would erase the absolute material levels).
        self.conv_out = conv(cfg.embed_channels, cfg.in_channels, 1)

    def embed(self, t: torch.Tensor, batch: int, cond: torch.Tensor | None) -> torch.Tensor:
        """Time (+ condition) embedding (B, time_embed_dim); NaN or missing cond → null embedding."""
        t = torch.as_tensor(t, device=self.conv_in.weight.device).float().reshape(-1).expand(batch)
        emb = self.time_embedding(t / self.num_train_timesteps)
        if self.cfg.conditional:
            null = self.null_cond.to(emb.dtype).expand(batch, -1)
            if cond is None:
                emb = emb + null
            else:
                cond = torch.as_tensor(cond, device=emb.device).float().reshape(-1).expand(batch)
                known = ~torch.isnan(cond)
                c_emb = self.cond_embedding(torch.where(known, cond, torch.zeros_like(cond)))
                emb = emb + torch.where(known[:, None], c_emb, null)
        return emb

    def forward(self, x: torch.Tensor, t: torch.Tensor | int, cond: torch.Tensor | None = None) -> torch.Tensor:
        f = self.cfg.downsampling
        if x.ndim != self.cfg.dim + 2 or any(s % f for s in x.shape[2:]):
            raise InputError(f"UNet({self.cfg.dim}D) needs (B, C, *grid) with sides divisible by {f}, got {tuple(x.shape)}")
        temb = self.embed(t, x.shape[0], cond)
        h = self.conv_in(x)
        skips = []
        for block in self.down:
            for res in block:
                h = res(h, temb)
            skips.append(h)
            h = self.pool(h)
        h = self.mid_resnets[0](h, temb)
        for attn, res in zip(self.mid_attentions, self.mid_resnets[1:]):
            h = res(attn(h), temb)
        for block, skip in zip(self.up, reversed(skips)):
            h = F.interpolate(h, scale_factor=2, mode="nearest")
            for res in block:
                h = res(torch.cat([h, skip], dim=1), temb)
        return self.conv_out(h)


def build_unet(cfg: ModelConfig, num_train_timesteps: int = 1000, seed: int = 0) -> UNet:
    """A UNet initialised reproducibly from ``seed`` (global RNG state is forked and restored)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return UNet(cfg, num_train_timesteps)
