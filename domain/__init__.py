"""The domain: what tapevm's log means, pure and free of I/O.

Events and their envelope, upcasting of old versions, the state and the fold,
deltas, content addressing and world-file blobs, names and session addresses,
the error hierarchy, and the ports (the store and checkpoint protocols) that
the infrastructure implements.  Imports nothing of tapevm's own outside
``domain``.
"""
