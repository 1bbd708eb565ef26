"""tapevm.domain"""
