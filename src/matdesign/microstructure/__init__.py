"""matdesign.microstructure"""
