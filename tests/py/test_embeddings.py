"""Embeddings: the local model, the OpenAI and Azure providers against a real HTTP service,
the query cache, and embedding the catalog into the database."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import socket
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager

import psycopg
import pytest

from conftest import replace_database
from fake_openai import AZURE_API_KEY, FakeOpenAI, running_fake_openai, vector_for
from zava_mcp import database, schema
from zava_mcp.config import EmbeddingSettings, Settings
from zava_mcp.embeddings import (
    PRODUCT_BATCH,
    EmbeddingError,
    EmbeddingProvider,
    QueryEmbedder,
    embed_products,
    provider_from_settings,
)
from zava_mcp.seed import seed

API_KEY = "sk-test-do-not-print-me"
CONNECTORS = (
    "Zava Pro Waterproof Wire Connectors, Silicone-Filled, 25-Pack. Waterproof wire nuts "
    "pre-filled with silicone sealant that keeps moisture, dirt, and corrosion out of splices."
)
HOSE = (
    "Zava 5/8 in. x 50 ft. Heavy-Duty Rubber Garden Hose. All-rubber garden hose that stays "
    "flexible in cold weather, resists kinks, and lies flat on hot pavement without cracking."
)


def embedding_settings(**changes: object) -> EmbeddingSettings:
    """The defaults (the local model), whatever the environment says, with changes."""
    return dataclasses.replace(Settings.from_env({}).embeddings, **changes)  # type: ignore[arg-type]


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.hypot(*a) / math.hypot(*b)


# The local model


@pytest.fixture(scope="session")
def local_model() -> EmbeddingProvider:
    """The local model, loaded once for the session (it takes seconds)."""
    provider = provider_from_settings(embedding_settings())
    asyncio.run(provider.warm_up())
    return provider


@pytest.mark.anyio
async def test_local_model_puts_related_texts_close(local_model: EmbeddingProvider) -> None:
    query, connectors, hose = await local_model.embed(
        ["waterproof electrical connectors", CONNECTORS, HOSE]
    )
    assert cosine(query, connectors) > cosine(query, hose) + 0.2
    assert local_model.model_name == "sentence-transformers/all-MiniLM-L6-v2"
    assert local_model.dimensions == 384
    for vector in (query, connectors, hose):
        assert len(vector) == 384
        assert math.hypot(*vector) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.anyio
async def test_local_model_gives_a_text_the_same_vector_every_time(
    local_model: EmbeddingProvider,
) -> None:
    first, second = await local_model.embed([HOSE, HOSE])
    (alone,) = await local_model.embed([HOSE])
    (other,) = await local_model.embed(["a cordless drill for decking"])
    # Batches of different sizes may round differently in the last bits (1e-7 was seen on
    # a loaded machine), so vectors are compared within a tolerance that still tells two
    # different texts apart by orders of magnitude.
    assert _largest_difference(first, second) < 1e-5
    assert _largest_difference(first, alone) < 1e-5
    assert _largest_difference(first, other) > 1e-2
    assert await local_model.embed([]) == []


def _largest_difference(left: list[float], right: list[float]) -> float:
    assert len(left) == len(right)
    return max(abs(a - b) for a, b in zip(left, right, strict=True))


def test_local_model_refuses_other_dimensions() -> None:
    with pytest.raises(EmbeddingError) as raised:
        provider_from_settings(embedding_settings(dimensions=1536))
    assert str(raised.value) == (
        "the local model gives 384-dimensional embeddings, but ZAVA_EMBEDDING_DIM is 1536"
    )


# The query cache


class CountingProvider:
    """Gives every text a vector of its own, and remembers each text that reached it."""

    model_name = "counting"
    dimensions = 2

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.called = asyncio.Event()
        self.answer = asyncio.Event()  # cleared: calls wait until the test lets them answer
        self.answer.set()
        self.failing = False

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.texts.extend(texts)
        self.called.set()
        await self.answer.wait()
        if self.failing:
            raise EmbeddingError("the counting provider fails on purpose")
        return [[float(len(text)), float(sum(map(ord, text)))] for text in texts]

    async def warm_up(self) -> None:
        """Nothing to load."""

    async def aclose(self) -> None:
        """Nothing to release."""


@pytest.mark.anyio
async def test_query_embedder_asks_the_provider_once_per_text() -> None:
    provider = CountingProvider()
    embedder = QueryEmbedder(provider, cache_size=10)
    first = await embedder.embed_query("cordless drill")
    assert await embedder.embed_query("cordless drill") == first
    await embedder.embed_query("garden hose")
    assert provider.texts == ["cordless drill", "garden hose"]
    assert (embedder.model_name, embedder.dimensions) == ("counting", 2)


@pytest.mark.anyio
async def test_query_embedder_forgets_the_least_recently_used_text() -> None:
    provider = CountingProvider()
    embedder = QueryEmbedder(provider, cache_size=2)
    for text in ("a", "b", "a", "c", "a", "b"):
        await embedder.embed_query(text)
    # "a" was used again before "c" came, so "b" was the one forgotten.
    assert provider.texts == ["a", "b", "c", "b"]


@pytest.mark.anyio
async def test_concurrent_calls_for_a_text_share_one_provider_call() -> None:
    provider = CountingProvider()
    provider.answer.clear()
    embedder = QueryEmbedder(provider, cache_size=10)
    callers = [asyncio.create_task(embedder.embed_query("paint roller")) for _ in range(5)]
    await asyncio.wait_for(provider.called.wait(), 5)
    callers[0].cancel()  # one caller giving up does not cancel the call for the others
    provider.answer.set()
    vectors = await asyncio.gather(*callers[1:])
    assert provider.texts == ["paint roller"]
    assert all(vector == vectors[0] for vector in vectors)
    assert callers[0].cancelled()


@pytest.mark.anyio
async def test_a_failed_query_is_not_remembered() -> None:
    provider = CountingProvider()
    provider.failing = True
    embedder = QueryEmbedder(provider, cache_size=10)
    with pytest.raises(EmbeddingError, match="on purpose"):
        await embedder.embed_query("ladder")
    provider.failing = False
    assert await embedder.embed_query("ladder") == [6.0, float(sum(map(ord, "ladder")))]
    assert provider.texts == ["ladder", "ladder"]


# The OpenAI and Azure providers, against a real HTTP service


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with running_fake_openai() as service:
        yield service


def openai_settings(base_url: str, **changes: object) -> EmbeddingSettings:
    """Quick to fail: no retries, a short timeout."""
    settings = embedding_settings(
        provider="openai",
        model="text-embedding-3-small",
        dimensions=384,
        api_key=API_KEY,
        base_url=base_url,
        timeout_seconds=5.0,
        max_retries=0,
        batch_size=4,
    )
    return dataclasses.replace(settings, **changes)  # type: ignore[arg-type]


@asynccontextmanager
async def provider_for(settings: EmbeddingSettings) -> AsyncIterator[EmbeddingProvider]:
    provider = provider_from_settings(settings)
    try:
        yield provider
    finally:
        await provider.aclose()


async def embedding_error(settings: EmbeddingSettings) -> tuple[str, float]:
    """The message of the EmbeddingError that embedding two texts raises, and how long it took."""
    started = time.monotonic()
    async with provider_for(settings) as provider:
        with pytest.raises(EmbeddingError) as raised:
            await provider.embed(["hammer", "nails"])
    message = str(raised.value)
    assert API_KEY not in message
    return message, time.monotonic() - started


@pytest.mark.anyio
async def test_openai_provider_returns_the_services_vectors_in_order(fake: FakeOpenAI) -> None:
    texts = [f"product number {number}" for number in range(10)]
    async with provider_for(openai_settings(fake.url)) as provider:
        vectors = await provider.embed(texts)
    assert vectors == [vector_for(text, 384) for text in texts]
    assert provider.model_name == "text-embedding-3-small"
    # batch_size 4: 10 texts in 3 requests.
    assert [request["input"] for request in fake.requests] == [texts[0:4], texts[4:8], texts[8:]]
    assert {request["dimensions"] for request in fake.requests} == {384}
    assert {request["encoding_format"] for request in fake.requests} == {"float"}


@pytest.mark.anyio
async def test_openai_provider_sends_no_dimensions_to_older_models(fake: FakeOpenAI) -> None:
    # all-minilm (as Ollama calls it) refuses the dimensions parameter, like ada-002.
    async with provider_for(openai_settings(fake.url, model="all-minilm")) as provider:
        (vector,) = await provider.embed(["saw"])
    assert vector == vector_for("saw", 384)
    assert "dimensions" not in fake.requests[0]


@pytest.mark.anyio
async def test_azure_provider_asks_the_deployment(fake: FakeOpenAI) -> None:
    settings = embedding_settings(
        provider="azure",
        model="text-embedding-3-small",  # the deployment's name
        dimensions=384,
        api_key=AZURE_API_KEY,
        azure_endpoint=fake.endpoint,
        max_retries=0,
    )
    async with provider_for(settings) as provider:
        assert await provider.embed(["drill bit"]) == [vector_for("drill bit", 384)]
    assert fake.requests[0]["dimensions"] == 384


def test_azure_provider_needs_an_endpoint_and_a_key() -> None:
    with pytest.raises(EmbeddingError, match="AZURE_OPENAI_ENDPOINT"):
        provider_from_settings(embedding_settings(provider="azure", api_key="key"))
    with pytest.raises(EmbeddingError, match="AZURE_OPENAI_API_KEY"):
        provider_from_settings(embedding_settings(provider="azure", azure_endpoint="http://az"))


@pytest.mark.anyio
async def test_a_service_that_is_down_is_a_quick_clear_error() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    message, seconds = await embedding_error(openai_settings(url))
    assert message.startswith(f"cannot reach the embeddings service at {url}")
    assert seconds < 3


@pytest.mark.anyio
async def test_a_slow_service_is_a_timeout_error(fake: FakeOpenAI) -> None:
    fake.delay_seconds = 30
    message, seconds = await embedding_error(openai_settings(fake.url, timeout_seconds=0.3))
    assert message == f"the embeddings service at {fake.url} did not answer within 0.3 s"
    assert seconds < 3


@pytest.mark.anyio
async def test_a_server_error_is_an_embedding_error(fake: FakeOpenAI) -> None:
    fake.fail_status = 500
    message, _ = await embedding_error(openai_settings(fake.url))
    assert message == (
        f"the embeddings service at {fake.url} answered HTTP 500 for model "
        "text-embedding-3-small: the fake service fails with 500"
    )
    assert len(fake.requests) == 1  # max_retries 0


@pytest.mark.anyio
async def test_a_rate_limit_is_an_embedding_error(fake: FakeOpenAI) -> None:
    fake.fail_status = 429
    message, _ = await embedding_error(openai_settings(fake.url))
    assert "HTTP 429" in message


@pytest.mark.anyio
async def test_an_unknown_model_is_an_embedding_error(fake: FakeOpenAI) -> None:
    message, _ = await embedding_error(openai_settings(fake.url, model="no-such-model"))
    assert "HTTP 404 for model no-such-model: The model `no-such-model` does not exist" in message


@pytest.mark.anyio
async def test_vectors_of_the_wrong_dimension_are_refused(fake: FakeOpenAI) -> None:
    fake.answer_dimensions = 100
    message, _ = await embedding_error(openai_settings(fake.url))
    assert message == (
        f"the embeddings service at {fake.url} returned 100-dimensional vectors for model "
        "text-embedding-3-small, but ZAVA_EMBEDDING_DIM is 384"
    )


# Embedding the catalog into the database


@pytest.fixture(scope="module")
def catalog(seeded: tuple[Settings, str]) -> tuple[str, int]:
    """A database of its own (others read zava_pytest's embeddings): its URL and vector dimension."""
    settings = replace_database(seeded[0], "zava_pytest_embeddings")
    database.drop_embedded_database(settings)
    url = database.admin_url(settings)
    schema.build(url, settings)
    seed(url, scale=0.01, random_seed=5)
    return url, settings.embedding_dim


def stored(url: str) -> dict[int, tuple[str, list[float]]]:
    """product_id -> (model_name, vector) of every stored embedding."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select product_id, model_name, description_embedding::real[] "
            "from retail.product_description_embeddings"
        ).fetchall()
    return {product_id: (model, vector) for product_id, model, vector in rows}


def products(url: str) -> dict[int, str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select product_id, product_name || '. ' || product_description from retail.products"
        ).fetchall()
    return dict(rows)


def forget_embeddings(url: str, where: str = "true") -> None:
    with psycopg.connect(url) as conn:
        conn.execute(f"delete from retail.product_description_embeddings where {where}")


@pytest.fixture
def catalog_settings(catalog: tuple[str, int], fake: FakeOpenAI) -> EmbeddingSettings:
    forget_embeddings(catalog[0])
    return openai_settings(fake.url, dimensions=catalog[1], batch_size=50)


@pytest.mark.anyio
async def test_every_product_gets_a_vector_of_the_model(
    catalog: tuple[str, int], catalog_settings: EmbeddingSettings
) -> None:
    url, dimensions = catalog
    progress: list[tuple[int, int]] = []
    async with provider_for(catalog_settings) as provider:
        count = await embed_products(
            url, provider, on_progress=lambda done, total: progress.append((done, total))
        )
    texts = products(url)
    assert count == len(texts) >= 400
    vectors = stored(url)
    assert vectors.keys() == texts.keys()
    for product_id, (model, vector) in vectors.items():
        assert model == "text-embedding-3-small"
        assert vector == pytest.approx(vector_for(texts[product_id], dimensions), abs=1e-6)
    # Once before the first batch, then after each.
    steps = [0, *range(PRODUCT_BATCH, count, PRODUCT_BATCH), count]
    assert progress == [(done, count) for done in steps]


@pytest.mark.anyio
async def test_only_missing_embeds_only_what_is_missing(
    catalog: tuple[str, int], catalog_settings: EmbeddingSettings, fake: FakeOpenAI
) -> None:
    url = catalog[0]
    async with provider_for(catalog_settings) as provider:
        await embed_products(url, provider)
        assert await embed_products(url, provider, only_missing=True) == 0
        forget_embeddings(url, "product_id in (3, 5)")
        fake.requests.clear()
        assert await embed_products(url, provider, only_missing=True) == 2
    assert [len(request["input"]) for request in fake.requests] == [2]
    assert len(stored(url)) == len(products(url))


@pytest.mark.anyio
async def test_another_model_replaces_every_vector(
    catalog: tuple[str, int], catalog_settings: EmbeddingSettings
) -> None:
    url = catalog[0]
    async with provider_for(catalog_settings) as provider:
        await embed_products(url, provider)
    larger = dataclasses.replace(catalog_settings, model="text-embedding-3-large")
    async with provider_for(larger) as provider:
        count = await embed_products(url, provider, only_missing=True)
    assert count == len(products(url))
    assert {model for model, _ in stored(url).values()} == {"text-embedding-3-large"}


@pytest.mark.anyio
async def test_a_provider_of_another_dimension_is_refused_before_anything_is_written(
    catalog: tuple[str, int], catalog_settings: EmbeddingSettings, fake: FakeOpenAI
) -> None:
    url, dimensions = catalog
    other = dataclasses.replace(catalog_settings, dimensions=dimensions - 1)
    async with provider_for(other) as provider:
        with pytest.raises(EmbeddingError) as raised:
            await embed_products(url, provider)
    assert str(raised.value) == (
        f"the database stores {dimensions}-dimensional embeddings but the provider gives "
        f"{dimensions - 1}; run `zava-mcp db reset` with ZAVA_EMBEDDING_DIM={dimensions - 1}"
    )
    assert fake.requests == []
    assert stored(url) == {}


@pytest.mark.anyio
async def test_local_model_embeds_the_catalog_for_semantic_search(
    catalog: tuple[str, int], local_model: EmbeddingProvider
) -> None:
    url, dimensions = catalog
    assert dimensions == local_model.dimensions, "the test database must store 384-d vectors"
    forget_embeddings(url)
    count = await embed_products(url, local_model)
    assert count == len(products(url))
    query = await QueryEmbedder(local_model, cache_size=1).embed_query("waterproof wire nuts")
    with psycopg.connect(url) as conn:
        nearest = conn.execute(
            """
            select product.product_name
            from retail.product_description_embeddings as embedding
            join retail.products as product on product.product_id = embedding.product_id
            order by embedding.description_embedding <=> %s::real[]::vector
            limit 3
            """,
            (query,),
        ).fetchall()
    assert all("Connector" in name for (name,) in nearest), nearest
