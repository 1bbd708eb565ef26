"""Images: the single-file image format and the operations on it.

``file_format`` is the container (header, sections, checks, upcasters);
``operations`` saves, loads, lists, exports, imports and verifies images.  May
import ``domain``, ``vm``, ``projections``, ``infrastructure.stores``,
``infrastructure.session`` and ``infrastructure.logs``.
"""
