"""tapevm.vm.primitives"""
