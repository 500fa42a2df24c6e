"""The RAG web chat as a FastAPI app: one static page and a JSON chat endpoint.

Served by `genrec rag serve` (jobs/cli/rag.py) and by the `rag_web` job (jobs/rag_web.py).
POST /api/chat {"message": "..."} -> the reply (answer text, recommendations, mentions, fallback flag).
The page renders every string with textContent, so nothing from a user or a model becomes markup.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

STATIC_DIR = Path(__file__).resolve().parent / "static"


class ChatRequest(BaseModel):
    message: str | None = None


def create_app(recommender, title: str = "genrec-ray movie chat"):
    import threading

    from fastapi import FastAPI
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import FileResponse

    app = FastAPI(title=title)
    app.state.turns = 0
    lock = threading.Lock()  # one turn at a time: the store connection, encoders and LLM are shared

    def answer(message):
        with lock:
            return recommender.answer(message)

    @app.get("/")
    def index():
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    @app.get("/api/health")
    def health():
        return {
            "ok": True,
            "movies": recommender.store.count(),
            "llm": getattr(recommender.llm, "name", None),
            "turns": app.state.turns,
        }

    @app.post("/api/chat")
    async def chat(req: ChatRequest):
        # the model and the encoders are blocking: keep them off the event loop
        reply = await run_in_threadpool(answer, req.message)
        app.state.turns += 1
        return reply.to_dict()

    return app
