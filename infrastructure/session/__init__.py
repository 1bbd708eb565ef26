"""The session service and what serves it.

``service.Session`` runs forms on the VM and commits their events; around it:
effects and model providers, time travel, unfinished forms and resume, replay,
retry after a conflict and host file import (branches live in
``infrastructure.branches``, a floor up).  The modules around the service see
a session through a small ``Protocol`` of what they use, so none of them
imports the service back.  May import ``domain``, ``vm``, ``projections``,
``infrastructure.stores`` and ``infrastructure.logs``.
"""
