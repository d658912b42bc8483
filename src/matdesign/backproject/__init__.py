"""matdesign.backproject: relaxed fields (3, *grid) → buildable designs (two real materials,
particle diameter, volume fraction) by a 2-component Gaussian mixture and particle finding."""

from matdesign.backproject.core import backproject, backproject_batch, raw_design
from matdesign.backproject.mixture import Mixture, fit_mixture
from matdesign.backproject.particles import ParticleFit, choose_particle_phase, find_particles

__all__ = ["Mixture", "ParticleFit", "backproject", "backproject_batch", "raw_design", "choose_particle_phase", "find_particles", "fit_mixture"]
