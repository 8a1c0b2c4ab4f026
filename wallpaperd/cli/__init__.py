"""Command-line entry points: ``wallpaperd`` (main.py) and ``wallpaperctl`` (ctl.py)."""
