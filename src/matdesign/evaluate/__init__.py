"""matdesign.evaluate"""
