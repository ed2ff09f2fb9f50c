"""The Jinja2 environment every irwua page is rendered with.

Pages extend ``templates/base.html.j2``: inline CSS, one script (table sorting, diagram pan and
zoom) and a Content Security Policy that allows nothing to load from anywhere and only that one
script (by its hash) to run.
Autoescape is on and undefined names are errors, so every string from a model shows as text.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from irwua.report.formatting import human, percent

if TYPE_CHECKING:
    import jinja2


SCRIPTS = ("sort.js", "zoom.js")
"""The page's one inline script, in these parts: table sorting, diagram pan and zoom."""


def render_page(template: str, **context: Any) -> str:
    """Render ``templates/<template>`` (which extends ``base.html.j2``) with ``context``."""
    return _environment().get_template(template).render(**context)


@cache
def _environment() -> jinja2.Environment:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("irwua.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        bytecode_cache=_bytecode_cache(jinja2),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(human=human, percent=percent)
    folder = resources.files("irwua.report").joinpath("templates")
    script = "\n".join(folder.joinpath(name).read_text("utf-8") for name in SCRIPTS)
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    source = Markup(f"'sha256-{digest}'")  # our own text: its quotes stay quotes in the policy
    environment.globals.update(page_script=script, script_source=source)
    return environment


def _bytecode_cache(jinja2):
    """Compiled templates cached under the user's cache dir, or None.

    Jinja reads cached bytecode with ``pickle`` and ``marshal``, so a planted file runs code: the
    cache is used only in a folder that the user owns and nobody else can write to or read
    (mode 0700, as Jinja's own default cache folder is checked). It saves about 45 ms per report
    (``docs/measured-choices.md``)."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "irwua" / "bytecode"
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        status = root.lstat()
    except OSError:
        return None
    private = stat.S_ISDIR(status.st_mode) and not stat.S_IMODE(status.st_mode) & 0o077
    if status.st_uid != os.getuid() or not private:
        return None
    return jinja2.FileSystemBytecodeCache(str(root))
