"""KDE Plasma: a script for ``org.kde.PlasmaShell.evaluateScript`` that sets every desktop.

Each desktop (one per monitor and activity) gets the ``org.kde.image`` plugin, the
picture and its fill mode. Plasma does not reload a file it already shows under the same
name, which is why every wallpaperd picture has a new file name. Reading back is a second
script that prints each desktop's ``Image``. The lock screen lives in
``kscreenlockerrc`` and is written with ``kwriteconfig6``/``kwriteconfig5``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, Mapping

from ..config.schema import DesktopConfig
from ..errors import DesktopError
from .bus import call, run_on_bus

NAME, PATH, IFACE = "org.kde.plasmashell", "/PlasmaShell", "org.kde.PlasmaShell"
#: desktop.mode → Qt Image.FillMode (2 = PreserveAspectCrop).
FILL = {"zoom": 2, "fill": 2, "fit": 1, "center": 6, "stretch": 0, "tile": 3}


def set_script(uri: str, fill_mode: int) -> str:
    return f"""var image = {json.dumps(uri)};
var all = desktops();
for (var i = 0; i < all.length; i++) {{
    var d = all[i];
    d.wallpaperPlugin = "org.kde.image";
    d.currentConfigGroup = ["Wallpaper", "org.kde.image", "General"];
    d.writeConfig("Image", image);
    d.writeConfig("FillMode", {int(fill_mode)});
}}
print(all.length);
"""


READ_SCRIPT = """var all = desktops();
var out = [];
for (var i = 0; i < all.length; i++) {
    var d = all[i];
    d.currentConfigGroup = ["Wallpaper", "org.kde.image", "General"];
    out.push(String(d.readConfig("Image")));
}
print(JSON.stringify(out));
"""


def set_kde(path: Path, cfg: DesktopConfig, env: Mapping[str, str]) -> dict[str, Any]:
    uri = path.as_uri()

    async def work(bus) -> dict[str, Any]:
        (printed,) = await call(bus, "kde", NAME, PATH, IFACE, "evaluateScript", "s",
                                [set_script(uri, FILL[cfg.mode])])
        record: dict[str, Any] = {"method": "evaluateScript", "desktops": _count(printed)}
        if cfg.verify:
            (shown,) = await call(bus, "kde", NAME, PATH, IFACE, "evaluateScript", "s", [READ_SCRIPT])
            try:
                images = json.loads(shown.strip() or "[]")
            except ValueError as exc:
                raise DesktopError(f"kde: reading the wallpaper back printed {shown!r}",
                                   fix="check plasmashell's scripting console") from exc
            if not images or any(image != uri for image in images):
                raise DesktopError(f"kde: after the change the desktops show {images}, not {uri}",
                                   fix="check that the desktops are not locked (widgets locked)")
            record["desktops"] = len(images)
        return record

    record = run_on_bus("kde", env, work)
    if cfg.lock_screen:
        record["lock_screen"] = _lock_screen(uri, env)
    return record


def _lock_screen(uri: str, env: Mapping[str, str]) -> str:
    tool = shutil.which("kwriteconfig6", path=env.get("PATH")) or \
        shutil.which("kwriteconfig5", path=env.get("PATH"))
    if tool is None:
        raise DesktopError("kde: kwriteconfig6/kwriteconfig5 not found for the lock screen",
                           fix="install KDE's config tools or set desktop.lock_screen: false")
    args = [tool, "--file", "kscreenlockerrc", "--group", "Greeter", "--group", "Wallpaper",
            "--group", "org.kde.image", "--group", "General", "--key", "Image", uri]
    result = subprocess.run(args, env=dict(env), capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise DesktopError(f"kde: {' '.join(args[:2])} failed: {result.stderr.strip()}",
                           fix="run the command by hand to see why")
    return "kscreenlockerrc"


def _count(printed: str) -> int | str:
    text = (printed or "").strip()
    return int(text) if text.isdigit() else "unknown"
