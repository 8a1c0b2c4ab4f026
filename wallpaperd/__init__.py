"""wallpaperd: SDXL wallpapers through an 8K detour, as a systemd user service."""

__version__ = "0.1.0"
