"""Pure functions returning Ray Tune param spaces plus scheduler/searcher factories."""
