"""Web chat for the RAG recommender as a job: the FastAPI app of rec_core/rag/web.py over a rag_index directory.

genrec rag serve --index runs/rag_index-.../index            # http://127.0.0.1:8000
python -m jobs.rag_web --preset cpu --set rag.index_dir=...   # the same, as a job
"""

from __future__ import annotations

from pydantic import Field

from jobs.common.config import JobConfig
from jobs.common.job import Job, JobResult, RunContext, UserFacingError
from rec_core.rag.recommender import RagConfig
from rec_core.rag.web import create_app


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


JOB = Job(
    name="rag_web",
    config=Config,
    run=run,
    resources=lambda cfg: {"CPU": 1.0},
    service=True,
    summary="RAG: serve the web chat page (FastAPI) over a rag_index directory; runs until Ctrl-C",
)

if __name__ == "__main__":
    JOB.main()
