"""matdesign.backproject"""
