"""A real HTTP server speaking the OpenAI (and Azure OpenAI) embeddings API, for tests.

Vectors are derived from a hash of each text, so they are deterministic and the same text
always gets the same vector. Switches make it slow, failing or wrong, and every request
body is recorded.
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from local_http import serving

# Model name -> its native dimension, as the real service knows them; all-minilm as Ollama names it.
MODELS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
    "all-minilm": 384,
}
AZURE_API_KEY = "azure-test-key"


def vector_for(text: str, dimensions: int) -> list[float]:
    """The unit vector the fake service gives text."""
    generator = random.Random(hashlib.sha256(text.encode()).digest())
    values = [generator.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = math.sqrt(sum(value * value for value in values))
    return [value / norm for value in values]


@dataclass
class FakeOpenAI:
    """The running service's address and switches; change them between requests."""

    url: str  # the base URL a client is given: http://127.0.0.1:<port>/v1
    endpoint: str  # the Azure endpoint: http://127.0.0.1:<port>
    delay_seconds: float = 0.0  # wait this long before answering
    fail_status: int | None = None  # answer every request with this HTTP error
    answer_dimensions: int | None = None  # return vectors of this length, whatever was asked
    requests: list[dict[str, Any]] = field(default_factory=list)  # the JSON bodies received
    # Set when the service stops, so that a slow answer nobody waits for ends at once.
    stopping: threading.Event = field(default_factory=threading.Event)

    async def embeddings(self, request: Request) -> JSONResponse:
        return await self._answer(await request.json())

    async def azure_embeddings(self, request: Request) -> JSONResponse:
        if request.headers.get("api-key") != AZURE_API_KEY:
            return _error(401, "Access denied due to invalid subscription key.", "401")
        if not request.query_params.get("api-version"):
            return _error(404, "Resource not found", "404")
        # The deployment in the path is the model.
        return await self._answer(
            {**await request.json(), "model": request.path_params["deployment"]}
        )

    async def _answer(self, body: Any) -> JSONResponse:
        self.requests.append(body)
        if self.delay_seconds:
            await anyio.to_thread.run_sync(self.stopping.wait, self.delay_seconds)
        if self.fail_status is not None:
            return _error(self.fail_status, f"the fake service fails with {self.fail_status}")
        if not isinstance(body, dict):
            return _error(400, "The request body must be a JSON object.")
        model, texts = body.get("model"), body.get("input")
        if model not in MODELS:
            return _error(404, f"The model `{model}` does not exist.", "model_not_found")
        if isinstance(texts, str):
            texts = [texts]
        if (
            not isinstance(texts, list)
            or not texts
            or not all(isinstance(text, str) and text for text in texts)
        ):
            return _error(400, "'$.input' is invalid: a non-empty string or list of them.")
        if body.get("encoding_format", "float") != "float":
            return _error(400, "This fake only answers encoding_format float.")
        dimensions = body.get("dimensions", MODELS[model])
        if "dimensions" in body and not model.startswith("text-embedding-3"):
            return _error(400, "This model does not support specifying dimensions.")
        if not isinstance(dimensions, int) or not 1 <= dimensions <= MODELS[model]:
            return _error(400, f"dimensions must be between 1 and {MODELS[model]}.")
        length = self.answer_dimensions or dimensions
        tokens = sum(len(text.split()) for text in texts)
        return JSONResponse(
            {
                "object": "list",
                "data": [
                    {"object": "embedding", "index": index, "embedding": vector_for(text, length)}
                    for index, text in enumerate(texts)
                ],
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )


def _error(status: int, message: str, code: str | None = None) -> JSONResponse:
    return JSONResponse(
        {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": code,
            }
        },
        status_code=status,
    )


@contextmanager
def running_fake_openai() -> Iterator[FakeOpenAI]:
    """Serve the fake on a free port of 127.0.0.1 in a background thread while in the block."""
    fake = FakeOpenAI(url="", endpoint="")
    app = Starlette(
        routes=[
            Route("/v1/embeddings", fake.embeddings, methods=["POST"]),
            Route(
                "/openai/deployments/{deployment}/embeddings",
                fake.azure_embeddings,
                methods=["POST"],
            ),
        ]
    )
    with serving(app) as base_url:
        fake.url, fake.endpoint = f"{base_url}/v1", base_url
        try:
            yield fake
        finally:
            fake.stopping.set()
