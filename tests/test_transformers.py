"""HuggingFace transformers built from small configs (random weights, nothing downloaded), through
the PyTorch front-end as a user would pass them: the default configuration, data as a dict.

References nobody here computed: torch's ``sum(p.numel() for p in model.parameters())`` (plus the
BatchNorm running statistics irwua scores, named in a note) and torch's FlopCounterMode on the
eager model (``attn_implementation="eager"``, so attention is counted as the two matmuls it is).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from unittest import mock

import numpy as np
import pytest

import irwua

torch = pytest.importorskip("torch")
T = pytest.importorskip("transformers")

SEQ = 16
EAGER = {"attn_implementation": "eager"}
SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)


def _ids(vocab: int = 100, samples: int = 2, length: int = SEQ) -> np.ndarray:
    return np.random.default_rng(0).integers(0, vocab, size=(samples, length), dtype=np.int64)


def _images(samples: int = 2, size: int = 32) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((samples, 3, size, size), dtype=np.float32)


def _llama(tied: bool) -> Any:
    config = T.LlamaConfig(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,  # grouped-query attention
        intermediate_size=64,
        max_position_embeddings=64,
        tie_word_embeddings=tied,
        **EAGER,
    )
    return T.LlamaForCausalLM(config)


def _whisper_config() -> Any:
    return T.WhisperConfig(
        vocab_size=100,
        d_model=32,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        num_mel_bins=8,
        max_source_positions=32,
        max_target_positions=32,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=1,
        **EAGER,
    )


def _features() -> np.ndarray:
    """Log-mel features: 8 bins x 64 frames (2 x max_source_positions, as Whisper requires)."""
    return np.random.default_rng(0).standard_normal((2, 8, 64), dtype=np.float32)


FAMILIES: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
    "bert": (
        lambda: T.BertModel(
            T.BertConfig(vocab_size=100, max_position_embeddings=64, **SMALL, **EAGER)
        ),
        lambda: {"input_ids": _ids()},
    ),
    "distilbert": (
        lambda: T.DistilBertModel(
            T.DistilBertConfig(
                vocab_size=100,
                dim=32,
                n_layers=2,
                n_heads=4,
                hidden_dim=64,
                max_position_embeddings=64,
                **EAGER,
            )
        ),
        lambda: {"input_ids": _ids()},
    ),
    "roberta": (
        lambda: T.RobertaModel(
            T.RobertaConfig(vocab_size=100, max_position_embeddings=64, **SMALL, **EAGER)
        ),
        lambda: {"input_ids": _ids()},
    ),
    "gpt2": (
        lambda: T.GPT2LMHeadModel(
            T.GPT2Config(vocab_size=100, n_positions=64, n_embd=32, n_layer=2, n_head=4, **EAGER)
        ),
        lambda: {"input_ids": _ids()},
    ),
    "llama-untied": (lambda: _llama(tied=False), lambda: {"input_ids": _ids()}),
    "llama-tied": (lambda: _llama(tied=True), lambda: {"input_ids": _ids()}),
    "vit": (
        lambda: T.ViTModel(T.ViTConfig(image_size=32, patch_size=8, **SMALL, **EAGER)),
        _images,
    ),
    "resnet": (
        lambda: T.ResNetModel(
            T.ResNetConfig(
                embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic"
            )
        ),
        _images,
    ),
    "convnext": (
        lambda: T.ConvNextModel(
            T.ConvNextConfig(hidden_sizes=[8, 16], depths=[1, 1], num_stages=2)
        ),
        _images,
    ),
    "whisper-encoder": (lambda: T.WhisperModel(_whisper_config()).get_encoder(), _features),
    "whisper": (
        lambda: T.WhisperModel(_whisper_config()),
        lambda: {"input_features": _features(), "decoder_input_ids": _ids(length=8)},
    ),
    "t5-encoder": (
        lambda: T.T5EncoderModel(
            T.T5Config(
                vocab_size=100, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, **EAGER
            )
        ),
        lambda: {"input_ids": _ids()},
    ),
    "swin": (
        lambda: T.SwinModel(
            T.SwinConfig(
                image_size=32,
                patch_size=4,
                embed_dim=16,
                depths=[1, 1],
                num_heads=[2, 4],
                window_size=4,
                **EAGER,
            )
        ),
        _images,
    ),
    "mobilevit": (
        lambda: T.MobileViTModel(
            T.MobileViTConfig(
                image_size=32,
                hidden_sizes=[16, 24, 32],
                neck_hidden_sizes=[8, 8, 16, 16, 24, 24, 32],
                **EAGER,
            )
        ),
        _images,
    ),
}


@dataclass(frozen=True)
class Analysed:
    model: Any
    data: Any
    analysis: irwua.Analysis
    reference_macs: int
    use_cache: bool | None


def _reference_macs(model: Any, data: Any) -> int:
    """FlopCounterMode's MACs per sample on the eager model. Gradients stay enabled: under
    no_grad some attention matmuls dispatch to kernels FlopCounterMode does not count."""
    from torch.utils.flop_counter import FlopCounterMode

    if isinstance(data, dict):
        inputs = {key: torch.from_numpy(value) for key, value in data.items()}
        if "use_cache" in __import__("inspect").signature(model.forward).parameters:
            inputs["use_cache"] = False
        call = lambda: model(**inputs)  # noqa: E731
    else:
        call = lambda: model(torch.from_numpy(data))  # noqa: E731
    with FlopCounterMode(display=False) as counter:
        call()
    samples = len(next(iter(data.values())) if isinstance(data, dict) else data)
    return counter.get_total_flops() // 2 // samples


@pytest.fixture(scope="module", params=list(FAMILIES))
def analysed(request) -> Analysed:
    torch.manual_seed(0)
    make_model, make_data = FAMILIES[request.param]
    model, data = make_model().eval(), make_data()
    use_cache = getattr(model.config, "use_cache", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analysis = irwua.analyze(model, data, passes=["flops", "metrics"])
    return Analysed(model, data, analysis, _reference_macs(model, data), use_cache)


def _statistics(model: Any) -> int:
    return sum(
        b.numel() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var"))
    )


def test_parameters_are_torchs(analysed):
    """One parameter, one count: tied embeddings once, position tables whole, derived tables
    (rotary cos/sin, Swin's gathered bias) not at all, ViT's class token counted."""
    params = sum(p.numel() for p in analysed.model.parameters())
    statistics = _statistics(analysed.model)
    analysis = analysed.analysis
    assert analysis["flops"].total.params == params + statistics
    assert analysis.graph.metadata["framework_params"] == params
    notes = " ".join(analysis.graph.metadata["export_notes"])
    assert (f"{statistics:,} BatchNorm running statistics" in notes) == bool(statistics)


def test_macs_are_flop_counter_modes(analysed):
    assert analysed.analysis["flops"].total.macs == analysed.reference_macs


def test_every_weighted_module_is_a_layer_named_by_its_path(analysed):
    """Every parameter is read by a layer named after a module holding it (a tied one: either)."""
    modules = dict(analysed.model.named_modules())
    owners: dict[int, set[str]] = {}
    for name, parameter in analysed.model.named_parameters(remove_duplicate=False):
        owners.setdefault(id(parameter), set()).add(name.rpartition(".")[0])
    names = [layer.framework_name for layer in analysed.analysis.graph.layers]
    assert None not in names
    assert set(names) <= set(modules)
    assert all(held & set(names) for held in owners.values())


def test_importance_and_metrics_run_on_the_data(analysed):
    """Every layer scored on the data (two embeddings reading the same ids included: Swin)."""
    scores = analysed.analysis["importance"].layers
    assert set(scores) == {layer.name for layer in analysed.analysis.graph.layers}
    assert all(np.isfinite(score.weight).all() for score in scores.values())
    totals = analysed.analysis.to_dict()["totals"]
    assert 0 < totals["utilization"] <= 1
    assert totals["scored_weights"] <= totals["params"]


def test_the_export_is_recorded_and_says_what_it_changed(analysed):
    metadata = analysed.analysis.graph.metadata
    assert metadata["exporter"] in ("torch.export", "torchscript")
    notes = " ".join(metadata["export_notes"])
    forward = __import__("inspect").signature(analysed.model.forward).parameters
    assert ("use_cache=False" in notes) == ("use_cache" in forward)
    assert getattr(analysed.model.config, "use_cache", None) == analysed.use_cache  # unchanged


def test_exporting_prints_nothing(capfd):
    make_model, make_data = FAMILIES["bert"]
    irwua.analyze(make_model().eval(), make_data(), passes=["flops"])
    out, err = capfd.readouterr()
    assert "Evaluation failed" not in out + err
    assert out == ""


def test_a_decoder_exports_what_the_user_means_from_a_data_dict_with_options():
    """GPT-2 with ``{"input_ids": ..., "use_cache": False}``: the option is passed to forward,
    not taken as an input; the logits come out and the counts are torch's."""
    make_model, _ = FAMILIES["gpt2"]
    model = make_model().eval()
    data = {"input_ids": _ids(), "use_cache": False}
    analysis = irwua.analyze(model, data, passes=["flops"])
    assert analysis.graph.metadata["export_notes"][0] == (
        "Exported with the data's call options use_cache=False."
    )
    assert analysis["flops"].total.params == sum(p.numel() for p in model.parameters())
    (logits,) = analysis.graph.outputs
    assert analysis.graph.shape(logits) == (1, SEQ, 100)
    assert {layer.framework_name for layer in analysis.graph.layers} >= {
        "transformer.wte",
        "lm_head",
    }


def test_the_torchscript_fallback_takes_keyword_inputs():
    """BertModel through the TorchScript exporter (torch.export made to fail): the inputs are
    passed by name, so ``use_cache`` no longer arrives twice."""
    from irwua.exporters.torch import export

    make_model, make_data = FAMILIES["bert"]
    model = make_model().eval()
    with mock.patch.object(export, "_export_dynamo", side_effect=RuntimeError("no capture")):
        analysis = irwua.analyze(model, make_data(), passes=["flops"])
    assert analysis.graph.metadata["exporter"] == "torchscript"
    assert analysis["flops"].total.params == sum(p.numel() for p in model.parameters())


def test_importance_runs_with_data_on_a_decoder():
    """Llama with tied embeddings: the shared matrix is one parameter tensor, read by two
    layers, each scored on its own inputs."""
    make_model, make_data = FAMILIES["llama-tied"]
    model = make_model().eval()
    analysis = irwua.analyze(model, make_data(), passes=["importance", "metrics"])
    layers = {layer.framework_name: layer for layer in analysis.graph.layers}
    head, table = layers["lm_head"], layers["model.embed_tokens"]
    origins = analysis.graph.constants.origins
    assert origins[head.tensors["weight"]] == origins[table.tensors["weight"]]
    scores = analysis["importance"].layers
    assert np.isfinite(scores[head.name].weight).all()
    assert scores[table.name].weight.shape == (100, 32)
    totals = analysis.to_dict()["totals"]
    assert totals["scored_weights"] == totals["params"] == model.num_parameters()
