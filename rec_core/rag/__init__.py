"""RAG movie recommender: catalogue, SQLite store, faiss index, title extraction, sentiment, LLM answer.

Plain PyTorch / HF / numpy / pandas (no Ray). `data_pipelines.rag_index` and `jobs/rag_*` wire Ray around it.
"""
