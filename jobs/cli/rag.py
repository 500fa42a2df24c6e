"""`genrec rag chat` (terminal REPL) and `genrec rag serve` (web page). The lead's CLI mounts `rag_app`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

rag_app = typer.Typer(
    help="RAG movie recommender: chat in the terminal or serve the web chat page.", no_args_is_help=True
)

_LLM_HELP = (
    "smollm2 (offline default) | openai (OpenAI-compatible endpoint) | tiny (random test model) "
    "| none (ranked list only)"
)


def build_config(
    index: Path,
    sentiment_model: Optional[Path],
    llm: str,
    base_url: Optional[str],
    model_name: Optional[str],
    api_key_env: str,
    threshold: Optional[float],
    top_k: int,
    max_new_tokens: int,
):
    from rec_core.rag.llm import LLMConfig
    from rec_core.rag.recommender import QueryConfig, RagConfig

    if llm not in ("smollm2", "openai", "tiny", "none"):
        raise typer.BadParameter(f"--llm must be one of: {_LLM_HELP}; got {llm!r}")
    lcfg: dict = {"max_new_tokens": max_new_tokens, "api_key_env": api_key_env}
    if llm == "openai":
        lcfg.update(backend="openai", model=model_name or "gpt-4o-mini")
        if base_url:
            lcfg["base_url"] = base_url
    elif llm == "tiny":
        lcfg["tiny_from_config"] = True
    elif model_name:
        lcfg["model"] = model_name
    q: dict = {"top_k": top_k, "use_llm": llm != "none"}
    if threshold is not None:
        q["similarity_threshold"] = threshold
    return RagConfig(index_dir=index, sentiment_model=sentiment_model, query=QueryConfig(**q), llm=LLMConfig(**lcfg))


def _load(cfg):
    from rec_core.rag.llm import LLMError
    from rec_core.rag.recommender import load_recommender

    try:
        return load_recommender(cfg)
    except (FileNotFoundError, LLMError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None


_index_opt = typer.Option(..., "--index", help="index directory written by `genrec run rag_index` (<run>/index)")
_sent_opt = typer.Option(
    None, "--sentiment-model", help="a `rag_sentiment` run's model dir (default: the index's frozen-embedding scorer)"
)
_llm_opt = typer.Option("smollm2", "--llm", help=_LLM_HELP)
_url_opt = typer.Option(None, "--base-url", help="OpenAI-compatible base URL, e.g. https://api.openai.com/v1")
_model_opt = typer.Option(None, "--model", help="model name (openai) or a local model path / HF id (smollm2 slot)")
_key_opt = typer.Option("OPENAI_API_KEY", "--api-key-env", help="environment variable that holds the API key")
_thr_opt = typer.Option(None, "--threshold", help="best-similarity threshold below which the LLM answers alone")
_k_opt = typer.Option(5, "--top-k", min=1, max=50)
_tok_opt = typer.Option(160, "--max-new-tokens", min=1)


@rag_app.command()
def chat(
    index: Path = _index_opt,
    sentiment_model: Optional[Path] = _sent_opt,
    llm: str = _llm_opt,
    base_url: Optional[str] = _url_opt,
    model: Optional[str] = _model_opt,
    api_key_env: str = _key_opt,
    threshold: Optional[float] = _thr_opt,
    top_k: int = _k_opt,
    max_new_tokens: int = _tok_opt,
    show_json: bool = typer.Option(False, "--json", help="print each reply as JSON (for scripts)"),
) -> None:
    """Terminal chat. One message per line; /quit or end of input (Ctrl-D) leaves."""
    import json

    rec = _load(
        build_config(index, sentiment_model, llm, base_url, model, api_key_env, threshold, top_k, max_new_tokens)
    )
    interactive = sys.stdin.isatty()
    typer.echo(f"Movie chat over {rec.store.count()} movies (LLM: {getattr(rec.llm, 'name', 'none')}). /quit to leave.")
    while True:
        if interactive:
            typer.echo("you> ", nl=False)
        line = sys.stdin.readline()
        if not line:  # end of input
            break
        line = line.rstrip("\n")
        if line.strip() in ("/quit", "/exit"):
            break
        reply = rec.answer(line)
        typer.echo(json.dumps(reply.to_dict(), default=str) if show_json else f"bot> {reply.answer}\n")
    typer.echo("bye")


@rag_app.command()
def serve(
    index: Path = _index_opt,
    sentiment_model: Optional[Path] = _sent_opt,
    llm: str = _llm_opt,
    base_url: Optional[str] = _url_opt,
    model: Optional[str] = _model_opt,
    api_key_env: str = _key_opt,
    threshold: Optional[float] = _thr_opt,
    top_k: int = _k_opt,
    max_new_tokens: int = _tok_opt,
    host: str = typer.Option("127.0.0.1", help="bind address (0.0.0.0 exposes it to the network)"),
    port: int = typer.Option(8000, min=1, max=65535),
) -> None:
    """Serve the web chat page on http://HOST:PORT."""
    import uvicorn

    from rec_core.rag.web import create_app

    rec = _load(
        build_config(index, sentiment_model, llm, base_url, model, api_key_env, threshold, top_k, max_new_tokens)
    )
    typer.echo(f"serving {rec.store.count()} movies on http://{host}:{port} (Ctrl-C to stop)")
    uvicorn.run(create_app(rec), host=host, port=port, log_level="warning")


if __name__ == "__main__":
    rag_app()
