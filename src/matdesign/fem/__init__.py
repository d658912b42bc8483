"""matdesign.fem"""
