"""Web chat for the RAG recommender: FastAPI serving one static page and a JSON chat endpoint.

    genrec rag serve --index runs/rag_index-.../index            # http://127.0.0.1:8000
    python -m jobs.rag_web --preset cpu --set rag.index_dir=...   # the same, as a job

POST /api/chat {"message": "..."} -> the reply (answer text, recommendations, mentions, fallback flag).
The page renders every string with textContent, so nothing from a user or a model becomes markup.
"""
from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from jobs.common.job import Job, JobResult, RunContext, UserFacingError
from jobs.common.config import JobConfig
from rec_core.rag.recommender import RagConfig

STATIC_DIR = Path(__file__).resolve().parent / "rag_static"


class ChatRequest(BaseModel):
    message: str | None = None


def create_app(recommender, title: str = "genrec-ray movie chat"):
    from fastapi import FastAPI
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import FileResponse

    import threading

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
        return {"ok": True, "movies": recommender.store.count(), "llm": getattr(recommender.llm, "name", None),
                "turns": app.state.turns}

    @app.post("/api/chat")
    async def chat(req: ChatRequest):
        # the model and the encoders are blocking: keep them off the event loop
        reply = await run_in_threadpool(answer, req.message)
        app.state.turns += 1
        return reply.to_dict()

    return app


def serve(rag: RagConfig, host: str = "127.0.0.1", port: int = 8000) -> int:
    import uvicorn

    from rec_core.rag.recommender import load_recommender

    try:
        rec = load_recommender(rag)
    except FileNotFoundError as e:
        raise UserFacingError(str(e)) from None
    app = create_app(rec)
    print(f"[rag_web] serving {rec.store.count()} movies on http://{host}:{port} (Ctrl-C to stop)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
    return app.state.turns


class Config(JobConfig):
    rag: RagConfig = Field(default_factory=RagConfig)
    host: str = Field("127.0.0.1", description="bind address; 0.0.0.0 exposes the chat to the network")
    port: int = Field(8000, ge=1, le=65535)


def run(cfg: Config, ctx: RunContext) -> JobResult:
    turns = serve(cfg.rag, cfg.host, cfg.port)
    return JobResult(metrics={"turns": turns}, report=f"Served the web chat on {cfg.host}:{cfg.port}; {turns} turns.")


JOB = Job(name="rag_web", config=Config, run=run, resources=lambda cfg: {"CPU": 1.0}, service=True,
          summary="RAG: serve the web chat page (FastAPI) over a rag_index directory; runs until Ctrl-C")

if __name__ == "__main__":
    JOB.main()
