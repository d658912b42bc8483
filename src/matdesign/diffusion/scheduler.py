"""Noise schedulers built from the config saved with a model (diffusers DDPM for training, DDIM for sampling).

Paper values (section 6.2): v-prediction, T = 1000, linear β from 1e-5 to 1e-2 rescaled to zero
terminal SNR (Lin et al. 2024), "trailing" time steps, x̂₀ clipped to [−1, 1], DDIM with η = 1.
"""

from __future__ import annotations

from diffusers import DDIMScheduler, DDPMScheduler

from matdesign.diffusion.config import Config, SchedulerConfig


def _scheduler_config(cfg: Config | SchedulerConfig | dict) -> SchedulerConfig:
    """Accept a :class:`Config`, its scheduler section, or their dict forms (as saved in config.json)."""
    if isinstance(cfg, Config):
        return cfg.scheduler
    if isinstance(cfg, SchedulerConfig):
        return cfg
    return Config.from_dict({"scheduler": cfg.get("scheduler", cfg)}).scheduler


def _kwargs(sc: SchedulerConfig) -> dict:
    return dict(
        num_train_timesteps=sc.num_train_timesteps,
        beta_schedule=sc.beta_schedule,
        beta_start=sc.beta_start,
        beta_end=sc.beta_end,
        prediction_type=sc.prediction_type,
        rescale_betas_zero_snr=sc.rescale_betas_zero_snr,
        timestep_spacing=sc.timestep_spacing,
        clip_sample=sc.clip_sample,
        clip_sample_range=sc.clip_sample_range,
    )


def make_train_scheduler(cfg: Config | SchedulerConfig | dict) -> DDPMScheduler:
    """DDPMScheduler for training (``add_noise``, ``get_velocity``)."""
    return DDPMScheduler(**_kwargs(_scheduler_config(cfg)))


class ZeroSNRSafeDDIMScheduler(DDIMScheduler):
    """diffusers' DDIMScheduler with one rounding guard for zero terminal SNR and η = 1.

    At the first step ᾱ_t = 0, so σ_t² = 1 − ᾱ_prev exactly and DDIM's direction term
    √(1 − ᾱ_prev − σ_t²) takes the root of a rounding error (−6e-8 in float32): NaN. We shrink the
    variance by one part in 10⁶, which keeps the term real and changes nothing else measurably.
    """

    def _get_variance(self, timestep, prev_timestep):
        return super()._get_variance(timestep, prev_timestep) * (1.0 - 1e-6)


def make_sampling_scheduler(cfg: Config | SchedulerConfig | dict) -> DDIMScheduler:
    """DDIM scheduler for sampling; pass ``eta`` (config ``scheduler.eta``) to its ``step``."""
    return ZeroSNRSafeDDIMScheduler(**_kwargs(_scheduler_config(cfg)))
