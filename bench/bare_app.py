"""B2's baseline: a bare FastAPI endpoint, same server stack, one raw INSERT."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import uuid4

from fastapi import FastAPI
from psycopg_pool import ConnectionPool

POOL: dict[str, ConnectionPool[Any]] = {}
STATE = b"x" * 500


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    pool: ConnectionPool[Any] = ConnectionPool(
        os.environ["DATABASE_URL"], min_size=4, max_size=25, open=True
    )
    with pool.connection() as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_bare (originator_id uuid,"
            " originator_version bigint, topic text, state bytea,"
            " notification_id bigserial, PRIMARY KEY (originator_id, originator_version))"
        )
    POOL["pool"] = pool
    yield
    pool.close()


app = FastAPI(lifespan=lifespan)


@app.post("/insert", status_code=201)
def insert() -> dict[str, str]:
    with POOL["pool"].connection() as conn:
        conn.execute(
            "INSERT INTO bench_bare (originator_id, originator_version, topic, state)"
            " VALUES (%s, 1, 'bench', %s)",
            (uuid4(), STATE),
        )
    return {"status": "ok"}
