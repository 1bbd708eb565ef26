"""tapevm.cli"""
