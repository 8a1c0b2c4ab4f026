"""``wallpaperd``: serve (the daemon), generate (one job in-process), upscale (stage 2 alone).

Exit codes: 0 done; 1 the job failed (a stage, the models, the input); 2 bad usage or
configuration; 130 cancelled with Ctrl-C. Errors are one readable block, never a
traceback (``--verbose`` adds it).
"""

from __future__ import annotations

import argparse
import sys
import threading
import traceback
from pathlib import Path

from .. import __version__
from ..errors import CancelledError, ConfigError, WallpaperdError

EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 1, 2, 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wallpaperd",
        description="SDXL wallpapers through an 8K detour: generate -> x4 upscale -> "
        "8K enhancement -> 4K.",
    )
    parser.add_argument("--version", action="version", version=f"wallpaperd {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logs and tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the daemon (systemd user service)")
    serve.add_argument("--config", type=Path, metavar="PATH", help="config file to use")

    gen = sub.add_parser("generate", help="make one wallpaper now, in this process")
    gen.add_argument("--config", type=Path, metavar="PATH",
                     help="config file (default ~/.config/wallpaperd/wallpaperd.yaml over the shipped one)")
    gen.add_argument("--prompt", metavar="TEXT",
                     help="what to paint (default: generate.prompt, else a theme)")
    gen.add_argument("--negative", metavar="TEXT", help="what to avoid (default: generate.negative_prompt)")
    gen.add_argument("--theme", metavar="NAME",
                     help="use this theme (see `wallpaperctl themes`); without --prompt and "
                     "--theme a theme is picked from the weather")
    gen.add_argument("--seed", type=_seed, metavar="N", help="seed (default: random; recorded)")
    gen.add_argument("--image", type=Path, metavar="PATH",
                     help="start from this picture instead of generating one")
    gen.add_argument("--out", type=Path, metavar="PATH",
                     help="final PNG path (default: a new name in output.dir); PATH.json gets the metadata")
    gen.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    gen.add_argument("--save-stages", action="store_true",
                     help="also write the base, upscaled and enhanced pictures")
    gen.add_argument("--no-set", action="store_true", help="do not set the result as the wallpaper")

    up = sub.add_parser("upscale", help="run the upscale stage alone on a picture")
    up.add_argument("input", type=Path, metavar="IN")
    up.add_argument("output", type=Path, metavar="OUT")
    up.add_argument("--config", type=Path, metavar="PATH", help="config file to use")
    up.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    return parser


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed must be a whole number, got {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"seed must be between 0 and 2**63-1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..log import setup_logging

    setup_logging(args.verbose)
    cancel = threading.Event()
    try:
        if args.command == "serve":
            import asyncio

            from ..daemon.serve import serve

            return asyncio.run(serve(args.config))
        from . import commands

        if args.command == "generate":
            return commands.generate(args, cancel)
        return commands.upscale(args, cancel)
    except KeyboardInterrupt:
        cancel.set()
        print("\nwallpaperd: cancelled; nothing was written.", file=sys.stderr)
        return EXIT_CANCELLED
    except CancelledError:
        print("wallpaperd: cancelled; nothing was written.", file=sys.stderr)
        return EXIT_CANCELLED
    except ConfigError as exc:
        print(f"wallpaperd: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except WallpaperdError as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"wallpaperd: error: {exc}", file=sys.stderr)
        diagnostics = getattr(exc, "diagnostics", None)
        if diagnostics:
            print(f"  diagnostics: {diagnostics}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
