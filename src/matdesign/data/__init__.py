"""matdesign.data"""
