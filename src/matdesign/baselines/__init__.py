"""matdesign.baselines"""
