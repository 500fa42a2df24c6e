"""GenAI rater: structured TMDB features + GenAI feature groups (poster statistics / VLM keywords,
LLM plot scores, overview embeddings) fused for an XGBoost rating regressor, with fold statistics for
an honest A/B. Plain pandas / numpy / HF; never imports Ray."""
