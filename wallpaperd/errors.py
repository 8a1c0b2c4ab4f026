"""The errors wallpaperd raises, one tree for the whole project.

::

    WallpaperdError              every error this project raises on purpose
    ├── ConfigError              a config file or value is wrong (names file, key, value, fix)
    ├── ModelError               SDXL or upscaler weights missing, unsafe or unusable
    ├── InputError               a user-supplied file or argument (prompt, image, path) is bad
    ├── StageError               a pipeline stage failed or produced an invalid picture
    │   └── ValidationError      the stage ran but its output failed validation
    ├── CancelledError           the job was asked to stop
    ├── DesktopError             setting the wallpaper failed
    └── RequestError             a client's call to the daemon is invalid (D-Bus error name)

Low-level errors (torch, diffusers, PIL, OS) are translated into these once, at the
boundary where we know what the user was trying to do, with the original kept as
``__cause__``.
"""

from __future__ import annotations

from typing import Any


class WallpaperdError(Exception):
    """Base of every error wallpaperd raises on purpose.

    ``fix`` is a one-line suggestion shown to the user after the message.
    """

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        if self.fix:
            return f"{self.message}\n  fix: {self.fix}"
        return self.message


class ConfigError(WallpaperdError):
    """A configuration file or value is invalid.

    ``problems`` holds one line per problem found, each naming the file, the key path,
    the bad value and the fix, so that a user sees every mistake at once.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        if len(self.problems) == 1:
            message = f"invalid configuration: {self.problems[0]}"
        else:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            message = f"invalid configuration ({len(self.problems)} problems):\n{lines}"
        super().__init__(message)


class ModelError(WallpaperdError):
    """Model weights are missing, in an unsafe format, or do not fit."""


class InputError(WallpaperdError):
    """A prompt, image path or other user-supplied input is unusable."""


class StageError(WallpaperdError):
    """A pipeline stage failed.

    ``diagnostics`` carries what a user needs to understand the failure: the stage's
    parameters, measured figures and peak VRAM. It is written into job records.
    """

    def __init__(
        self,
        stage: str,
        message: str,
        *,
        diagnostics: dict[str, Any] | None = None,
        fix: str | None = None,
    ) -> None:
        super().__init__(f"stage '{stage}' failed: {message}", fix=fix)
        self.stage = stage
        self.diagnostics = dict(diagnostics or {})


class ValidationError(StageError):
    """A stage produced a picture that failed its checks (size, NaN, blank, sharpness)."""


class CancelledError(WallpaperdError):
    """The running job was cancelled (Ctrl-C, SIGTERM or a cancel request)."""


class DesktopError(WallpaperdError):
    """The wallpaper could not be set on the desktop."""


class RequestError(WallpaperdError):
    """A call to the daemon is invalid; ``name`` is its ``org.wallpaperd.Error.*`` name."""

    def __init__(self, name: str, message: str, *, fix: str | None = None) -> None:
        super().__init__(message, fix=fix)
        self.name = name
