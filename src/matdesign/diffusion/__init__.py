"""matdesign.diffusion"""
