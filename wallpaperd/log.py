"""Logging: structlog, readable on a terminal, one key=value line per event otherwise."""

from __future__ import annotations

import logging
import sys

import structlog


def setup_logging(verbose: bool = False) -> None:
    level = logging.DEBUG if verbose else logging.INFO
    tty = sys.stderr.isatty()
    renderer = structlog.dev.ConsoleRenderer(colors=True) if tty else structlog.processors.LogfmtRenderer(
        key_order=["level", "event"], drop_missing=True)
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%Y-%m-%d %H:%M:%S", utc=False),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # Looked up per logger, so a replaced sys.stderr (tests, redirection) is honoured.
        logger_factory=lambda *args: structlog.PrintLogger(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # The libraries' own chatter (dtype notes, progress bars) is not the user's business.
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
