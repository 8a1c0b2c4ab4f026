"""Prompt expansion against an Ollama-compatible server on loopback."""

from __future__ import annotations

import json
import time

import pytest

from wallpaperd.config.schema import ExpansionConfig
from wallpaperd.planning.expand import ExpansionError, expand_prompt

from .loopback import LoopbackServer


class Ollama(LoopbackServer):
    path = "/api/generate"

    def __init__(self) -> None:
        self.mode, self.requests = "ok", []
        super().__init__()

    def respond(self, request, body: bytes | None) -> tuple[int, str]:
        sent = json.loads(body)
        self.requests.append(sent)
        if self.mode == "slow":
            time.sleep(1.0)
        return {"ok": (200, json.dumps({"model": sent["model"], "response":
                                        ' "A lighthouse on a cliff, storm light."\n', "done": True})),
                "slow": (200, "{}"), "missing": (404, '{"error":"model not found"}'),
                "garbage": (200, "not json"), "empty": (200, json.dumps({"response": "  "}))}[self.mode]


@pytest.fixture
def ollama():
    server = Ollama()
    yield server
    server.close()


def test_off_by_default():
    prompt, record = expand_prompt(ExpansionConfig(), "a lighthouse", 1)
    assert prompt == "a lighthouse" and record["used"] is False


def test_expansion_is_used_and_recorded(ollama):
    cfg = ExpansionConfig(enabled=True, url=ollama.url, model="tiny-llm")
    prompt, record = expand_prompt(cfg, "lighthouse, storm", 7)
    assert prompt == "A lighthouse on a cliff, storm light."
    assert record == {"used": True, "url": ollama.url, "model": "tiny-llm", "original": "lighthouse, storm"}
    (request,) = ollama.requests
    assert request["model"] == "tiny-llm" and request["stream"] is False
    assert request["prompt"].endswith("lighthouse, storm") and request["options"]["seed"] == 7


@pytest.mark.parametrize("mode, message", [("slow", "did not answer within 0.3 s"),
                                           ("missing", "answered HTTP 404"),
                                           ("garbage", "malformed answer"), ("empty", "an empty prompt")])
def test_failures_are_loud_when_required_and_recorded_otherwise(ollama, mode, message):
    ollama.mode = mode
    required = ExpansionConfig(enabled=True, url=ollama.url, timeout_seconds=0.3, required=True)
    with pytest.raises(ExpansionError, match=message):
        expand_prompt(required, "a lighthouse", 1)
    optional = required.model_copy(update={"required": False})
    prompt, record = expand_prompt(optional, "a lighthouse", 1)
    assert prompt == "a lighthouse" and record["used"] is False and message in record["why"]
