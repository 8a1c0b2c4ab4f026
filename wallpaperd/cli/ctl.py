"""``wallpaperctl``: the client of the daemon.

The daemon (``wallpaperd serve``) is not implemented yet, so every command says so and
exits non-zero instead of pretending to work.
"""

from __future__ import annotations

import argparse
import sys

COMMANDS = ("now", "status", "jobs", "history", "cancel", "reload", "pause", "resume", "set")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wallpaperctl", description="control the wallpaperd daemon")
    parser.add_argument("command", choices=COMMANDS, metavar="COMMAND",
                        help=", ".join(COMMANDS))
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    print(f"wallpaperctl {args.command}: the daemon is not implemented yet; "
          "use `wallpaperd generate` to make a wallpaper now.", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
