"""matdesign.diffusion: the dims-agnostic UNet, noise schedulers, training loop and checkpoints.

Public API: :class:`Config` / :func:`load_config`, :class:`UNet` / :func:`build_unet`,
:func:`make_train_scheduler` / :func:`make_sampling_scheduler`, :class:`DiffusionModel`
(``save``/``load``), :func:`train`, and the sampling pieces :func:`predict_x0`, :func:`x0_from_v`,
:func:`ddim_loop`, :func:`cfg_denoiser`, :func:`sample`.
"""

from matdesign.diffusion.config import Config, ModelConfig, SchedulerConfig, TrainConfig, load_config
from matdesign.diffusion.model import DiffusionModel
from matdesign.diffusion.sampling import cfg_denoiser, ddim_loop, predict_x0, sample, x0_from_v
from matdesign.diffusion.scheduler import make_sampling_scheduler, make_train_scheduler
from matdesign.diffusion.train import train
from matdesign.diffusion.unet import UNet, build_unet

__all__ = [
    "Config", "ModelConfig", "SchedulerConfig", "TrainConfig", "load_config", "DiffusionModel",
    "cfg_denoiser", "ddim_loop", "predict_x0", "sample", "x0_from_v",
    "make_sampling_scheduler", "make_train_scheduler", "train", "UNet", "build_unet",
]
