"""tapevm.infrastructure"""
