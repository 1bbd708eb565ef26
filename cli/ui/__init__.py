"""``tape ui``: the web time machine, a read-only presentation layer over the store, like the CLI.

Holds the Starlette application (``app.py``: routes, the token and host checks, the security
headers, the live stream), the data each view shows in the JSON shapes of ``--json``
(``views.py``), the HTML of the pages, every user-supplied text escaped (``pages.py``,
``html.py``), and the assets shipped in the wheel (``static/``: vendored htmx, our CSS and
script).  It may import everything below the ``cli`` floor and the CLI's rendering modules;
nothing imports it but ``cli/ui_commands.py``, which loads it only when ``tape ui`` runs, so
the ``ui`` extra (starlette, uvicorn) stays optional, and ``cli/ui_links.py``, which takes the
app's URL scheme from ``html.py`` (plain Python: no extra needed).
"""
