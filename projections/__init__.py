"""tapevm.projections"""
