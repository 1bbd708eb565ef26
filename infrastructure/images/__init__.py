"""Images: the single-file image format and the operations on it.

``file_format`` is the container (header, sections, checks, upcasters);
``operations`` saves, loads, lists, exports, imports and verifies images;
``session_opener`` opens sessions as the public API does, with the image writer
their ``(save-image ...)`` needs (sessions are a floor below images).  May
import ``domain``, ``vm``, ``projections``, ``infrastructure.stores``,
``infrastructure.session`` and ``infrastructure.logs``.
"""
