"""LC-Rec style generative recommender: a decoder LLM that reads and writes items as semantic-ID tokens.

tokens (one new token per code per level, mean-initialised, only the new rows train), prompts (the versioned
multi-task templates), model (base / tiny from-config model, LoRA via peft, adapter save/load), decode
(trie-constrained beam search + a Ranker for rec_core.evaluation), evaluate (item2index, BLEU/ROUGE-L, I2I),
merge (weighted average of adapters). Plain torch/HF/peft: no Ray here.
"""
