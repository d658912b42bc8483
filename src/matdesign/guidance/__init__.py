"""matdesign.guidance"""
