"""Load the LLM / VLM the rater's stages use.

Names: "smollm2" (offline GGUF default), "tiny-random" (a from-config causal LM with a character
tokenizer: mechanics only, used by the smoke preset and tests), "tiny-random-llava" (a from-config
LLaVA for the VLM path's mechanics), or any HF id / local path (`from_pretrained`, optionally 4-bit
through bitsandbytes on GPU hosts).
"""

from __future__ import annotations

import string

import torch

TINY_LLM = "tiny-random"
TINY_VLM = "tiny-random-llava"
_CHAT_TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)


def char_tokenizer(extra_tokens: tuple[str, ...] = ()):
    """A character-level fast tokenizer built locally (no files, no hub). Digits are single tokens, so
    "10" is two tokens, like in SmolLM2: the multi-token answer logic is exercised."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<unk>", "<s>", "</s>", *extra_tokens]
    chars = list(dict.fromkeys(string.printable))
    vocab = {t: i for i, t in enumerate(specials + chars)}
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tk.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk,
        pad_token="<pad>",
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        additional_special_tokens=list(extra_tokens) or None,
    )
    tok.padding_side = "left"
    tok.chat_template = _CHAT_TEMPLATE
    return tok


def tiny_causal_lm(vocab_size: int, seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=3,
    )
    return LlamaForCausalLM(cfg).eval()


def load_causal_lm(name: str, load_in_4bit: bool = False, device: str | None = None, dtype: str = "auto"):
    """(model, tokenizer) in eval mode; tokenizer pads on the left (batched scoring / generation)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if name == TINY_LLM:
        tok = char_tokenizer()
        return tiny_causal_lm(len(tok)).to(device), tok
    kwargs: dict = {}
    if name == "smollm2":
        from rec_core.offline_models import smollm2_gguf

        path, gguf = smollm2_gguf()
        kwargs["gguf_file"] = gguf
    else:
        from rec_core.offline_models import resolve_model

        path = resolve_model(name)
    tok = AutoTokenizer.from_pretrained(path, **kwargs)
    model_kwargs = dict(kwargs)
    if load_in_4bit:
        from transformers import BitsAndBytesConfig

        model_kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_compute_dtype=torch.bfloat16
        )
        model_kwargs["device_map"] = {"": device}
    elif dtype != "auto":
        model_kwargs["dtype"] = getattr(torch, dtype)
    elif device.startswith("cuda"):
        model_kwargs["dtype"] = torch.bfloat16
    model = AutoModelForCausalLM.from_pretrained(path, **model_kwargs)
    if not load_in_4bit:
        model = model.to(device)
    _ready_tokenizer(tok)
    return model.eval(), tok


def _ready_tokenizer(tok) -> None:
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token


def tiny_llava(seed: int = 0):
    """(model, processor) of a from-config LLaVA: CLIP-style vision tower + tiny Llama. Random weights:
    for testing the VLM stage's plumbing (image -> prompt -> generate -> keyword parsing) only."""
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    tok = char_tokenizer(extra_tokens=("<image>",))
    image_token_id = tok.convert_tokens_to_ids("<image>")
    torch.manual_seed(seed)
    vision = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,
        projection_dim=32,
    )
    text = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=3,
    )
    cfg = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=image_token_id,
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    model = LlavaForConditionalGeneration(cfg).eval()
    proc = LlavaProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        tokenizer=tok,
        patch_size=8,
        vision_feature_select_strategy="default",
        image_token="<image>",
        num_additional_image_tokens=1,
        chat_template=_VLM_TEMPLATE,
    )
    return model, proc


_VLM_TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}>{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image>{% else %}{{ c['text'] }}{% endif %}{% endfor %}\n{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)


def load_vlm(name: str, load_in_4bit: bool = False, device: str | None = None):
    """(model, processor) for LLaVA-1.5 / Qwen2-VL style checkpoints via AutoModelForImageTextToText."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if name == TINY_VLM:
        model, proc = tiny_llava()
        return model.to(device), proc
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from rec_core.offline_models import resolve_model

    path = resolve_model(name)
    kwargs: dict = {}
    if load_in_4bit:
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=torch.bfloat16)
        kwargs["device_map"] = {"": device}
    elif device.startswith("cuda"):
        kwargs["dtype"] = torch.bfloat16
    proc = AutoProcessor.from_pretrained(path)
    model = AutoModelForImageTextToText.from_pretrained(path, **kwargs)
    if not load_in_4bit:
        model = model.to(device)
    if getattr(proc, "tokenizer", None) is not None:
        proc.tokenizer.padding_side = "left"
    return model.eval(), proc


@torch.no_grad()
def vlm_describe(model, processor, images: list, prompt: str, max_new_tokens: int = 48) -> list[str]:
    """Greedy replies of a VLM to `prompt` about each image (a PIL image)."""
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
    text = processor.apply_chat_template(msgs, add_generation_prompt=True)
    device = next(model.parameters()).device
    enc = processor(images=images, text=[text] * len(images), return_tensors="pt", padding=True).to(device)
    tok = processor.tokenizer
    out = model.generate(
        **enc,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
    )
    return tok.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
