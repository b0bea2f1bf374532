"""A dense transformers causal LM written as an F16 GGUF that llama.cpp loads: hyperparameters, tokenizer, tensors.

    arch = gguf_architecture(model.config)        # UserError naming what is supported
    write_f16_gguf(model, tokenizer, template, Path("out.f16.gguf"), model_dir, source_gguf=None, name="my-student")

Tensor names come from gguf-py's HF -> GGUF map for the architecture; the few layout changes
llama.cpp expects are the same as its own converter's (convert_hf_to_gguf.py, read, not copied):
- Llama: q_proj / k_proj rows are permuted from Hugging Face's rotate-half RoPE layout to the
  interleaved one llama.cpp's LLAMA graph uses. Qwen2 uses NeoX RoPE in llama.cpp: no permutation.
- Gemma 3: RMSNorm multiplies by (1 + weight) in transformers and by weight in llama.cpp, so every
  norm weight gets +1; the embedding is tied to the output (no output tensor).
Matrices are stored as F16, vectors (norms, biases) as F32, like the converter's default.
Quantization is llama.cpp's job (export.py), never ours.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from selfinstruct.errors import UserError
from selfinstruct.finetune.data import PromptTemplate
from selfinstruct.finetune.gguf_vocab import VocabMetadata, tokenizer_metadata


class GgufArch(BaseModel):
    """How one transformers architecture maps onto a llama.cpp one."""

    hf: str  # config.architectures[0]
    name: str  # gguf.MODEL_ARCH member name
    activation: str  # the only hidden_act llama.cpp's graph computes for it
    permute_qk: bool = False
    norm_shift: float = 0.0


ARCHITECTURES = {
    a.hf: a
    for a in (
        GgufArch(hf="LlamaForCausalLM", name="LLAMA", activation="silu", permute_qk=True),
        GgufArch(hf="Qwen2ForCausalLM", name="QWEN2", activation="silu"),
        GgufArch(hf="Gemma3ForCausalLM", name="GEMMA3", activation="gelu_pytorch_tanh", norm_shift=1.0),
    )
}
SUPPORTED = "Gemma 3 (Gemma3ForCausalLM), Llama (LlamaForCausalLM) and Qwen2 (Qwen2ForCausalLM)"


def gguf_architecture(config: Any) -> GgufArch:
    """The export recipe for a model config; UserError naming what is supported for anything else."""
    names = getattr(config, "architectures", None) or []
    hf = names[0] if names else type(config).__name__.replace("Config", "ForCausalLM")
    arch = ARCHITECTURES.get(hf)
    if arch is None:
        raise UserError(f"cannot export a {hf} model to GGUF; supported: {SUPPORTED}")
    act = getattr(config, "hidden_act", None) or getattr(config, "hidden_activation", None)
    if act != arch.activation:
        raise UserError(f"cannot export this {hf}: hidden activation {act!r}, llama.cpp computes {arch.activation!r} for it")
    return arch


def _rope(config: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(global, sliding-window) RoPE parameters, from transformers 5's rope_parameters or the older flat keys."""
    params = getattr(config, "rope_parameters", None) or {}
    if "full_attention" in params:
        return params["full_attention"] or {}, params.get("sliding_attention") or {}
    flat = dict(params) or {"rope_theta": getattr(config, "rope_theta", None), **(getattr(config, "rope_scaling", None) or {})}
    return flat, {}


def _add_hparams(writer: Any, arch: GgufArch, config: Any) -> None:
    import gguf

    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    writer.add_block_count(config.num_hidden_layers)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(getattr(config, "num_key_value_heads", None) or config.num_attention_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_key_length(head_dim)
    writer.add_value_length(head_dim)
    rope, rope_local = _rope(config)
    if rope.get("rope_theta") is not None:
        writer.add_rope_freq_base(float(rope["rope_theta"]))
    rope_type = rope.get("rope_type") or rope.get("type") or "default"
    if rope_type == "linear" and rope.get("factor"):
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(float(rope["factor"]))
    elif rope_type != "default":
        raise UserError(f"cannot export: RoPE scaling {rope_type!r} is not supported (default and linear are)")
    if arch.name in ("LLAMA", "QWEN2"):
        writer.add_vocab_size(config.vocab_size)
        writer.add_rope_dimension_count(head_dim)
    if arch.name == "GEMMA3":
        if getattr(config, "attn_logit_softcapping", None) is not None:
            raise UserError("cannot export this Gemma 3: attention logit soft-capping is not part of llama.cpp's Gemma 3")
        if getattr(config, "query_pre_attn_scalar", head_dim) != head_dim:
            raise UserError("cannot export this Gemma 3: llama.cpp scales queries by 1/sqrt(head_dim), this model by query_pre_attn_scalar")
        if getattr(config, "final_logit_softcapping", None):
            writer.add_final_logit_softcapping(float(config.final_logit_softcapping))
        if getattr(config, "sliding_window", None):
            writer.add_sliding_window(config.sliding_window)
            layer_types = getattr(config, "layer_types", None)
            if layer_types:
                writer.add_sliding_window_pattern([t == "sliding_attention" for t in layer_types])
            if rope_local.get("rope_theta") is not None:
                writer.add_rope_freq_base_swa(float(rope_local["rope_theta"]))


def _permute(weights: Any, n_head: int) -> Any:
    """Rotate-half RoPE rows -> interleaved pairs, per head (the inverse of HF's conversion of Meta's checkpoints)."""
    return weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def gguf_tensors(model: Any, arch: GgufArch) -> list[tuple[str, Any]]:
    """(llama.cpp name, numpy array) for every weight llama.cpp needs, in the state dict's order."""
    import gguf
    import torch

    config = model.config
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH[arch.name], config.num_hidden_layers)
    tied = bool(getattr(config, "tie_word_embeddings", False))
    n_head = config.num_attention_heads
    n_kv = getattr(config, "num_key_value_heads", None) or n_head
    out = []
    for hf_name, tensor in model.state_dict().items():
        if tied and hf_name.startswith("lm_head."):
            continue
        if "rotary_emb" in hf_name:
            continue  # computed by llama.cpp from rope_freq_base
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise UserError(f"cannot export tensor {hf_name}: llama.cpp's {arch.name} has no place for it")
        data = tensor.detach().to(torch.float32).cpu()
        if arch.permute_qk and hf_name.endswith(("q_proj.weight", "q_proj.bias")):
            data = _permute(data, n_head)
        elif arch.permute_qk and hf_name.endswith(("k_proj.weight", "k_proj.bias")):
            data = _permute(data, n_kv)
        if arch.norm_shift and hf_name.endswith("norm.weight"):
            data = data + arch.norm_shift
        array = data.numpy()
        out.append((name, array.astype("float16") if array.ndim >= 2 else array))
    return out


def write_f16_gguf(
    model: Any, tokenizer: Any, template: PromptTemplate, path: Path, model_dir: Path, *, source_gguf: Path | None = None, name: str = "student",
) -> VocabMetadata:  # fmt: skip
    """Write model as an F16 GGUF at path; returns the vocabulary metadata used (its source is worth saying)."""
    import gguf

    arch = gguf_architecture(model.config)
    tensors = gguf_tensors(model, arch)
    embed = next(array for n, array in tensors if n == "token_embd.weight")
    vocab = tokenizer_metadata(tokenizer, model_dir, source_gguf)
    writer = gguf.GGUFWriter(str(path), gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH[arch.name]])
    try:
        writer.add_type(gguf.GGUFType.MODEL)
        writer.add_name(name)
        writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        _add_hparams(writer, arch, model.config)
        vocab.write(writer, n_vocab=embed.shape[0], prompt_template=template)
        for tensor_name, array in tensors:
            writer.add_tensor(tensor_name, array)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    return vocab
