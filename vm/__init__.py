"""tapevm.vm"""
