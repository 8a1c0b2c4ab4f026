"""Optional prompt expansion by a local LLM over an Ollama-compatible HTTP API.

``POST {url}`` with ``{"model", "prompt", "stream": false, "options": {"seed"}}``; the
answer's ``response`` field is the new prompt. Off by default. A failure (network,
timeout, HTTP status, empty or malformed answer) is an error naming the URL and what was
wrong when ``prompt_expansion.required`` is true; otherwise the composed prompt stays and
the record says why.
"""

from __future__ import annotations

from typing import Any

import requests

from ..config.schema import ExpansionConfig
from ..errors import WallpaperdError

MAX_CHARS = 1000


class ExpansionError(WallpaperdError):
    """The LLM could not expand the prompt."""


def expand_prompt(cfg: ExpansionConfig, prompt: str, seed: int) -> tuple[str, dict[str, Any]]:
    """(prompt to use, record). Returns the prompt unchanged when expansion is off."""
    if not cfg.enabled:
        return prompt, {"used": False, "why": "prompt_expansion.enabled is false"}
    try:
        expanded = _ask(cfg, prompt, seed)
    except ExpansionError as exc:
        if cfg.required:
            raise
        return prompt, {"used": False, "why": exc.message, "url": cfg.url, "model": cfg.model}
    return expanded, {"used": True, "url": cfg.url, "model": cfg.model, "original": prompt}


def _ask(cfg: ExpansionConfig, prompt: str, seed: int) -> str:
    body = {"model": cfg.model, "prompt": f"{cfg.instruction}\n\n{prompt}", "stream": False,
            "options": {"seed": seed % 2**31, "temperature": 0.7}}
    try:
        response = requests.post(cfg.url, json=body, timeout=cfg.timeout_seconds)
    except requests.Timeout as exc:
        raise ExpansionError(f"prompt expansion: {cfg.url} did not answer within "
                             f"{cfg.timeout_seconds} s", fix="is the LLM server running?") from exc
    except requests.RequestException as exc:
        raise ExpansionError(f"prompt expansion: cannot reach {cfg.url}: {exc}",
                             fix="start the LLM server (e.g. `ollama serve`) or disable "
                             "prompt_expansion") from exc
    if response.status_code != 200:
        raise ExpansionError(f"prompt expansion: {cfg.url} answered HTTP {response.status_code}: "
                             f"{response.text[:200]!r}",
                             fix=f"check prompt_expansion.model ({cfg.model!r}) exists on the server")
    try:
        text = str(response.json()["response"]).strip().strip('"').strip()
    except (ValueError, KeyError, TypeError) as exc:
        raise ExpansionError(f"prompt expansion: {cfg.url} sent a malformed answer: "
                             f"{response.text[:200]!r}",
                             fix="prompt_expansion.url must be an Ollama-compatible /api/generate"
                             ) from exc
    if not text or len(text) > MAX_CHARS:
        raise ExpansionError(f"prompt expansion: {cfg.url} sent {'an empty' if not text else 'a too long'} "
                             f"prompt ({len(text)} characters)", fix="try another model")
    return " ".join(text.split())
