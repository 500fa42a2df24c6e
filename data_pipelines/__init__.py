"""Ray Data pipelines: read -> preprocess -> actor-pool model stages -> write Parquet."""
