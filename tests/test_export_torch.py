"""The PyTorch front-end on small real architectures: outputs, names, parameter counts, and the
user's module left untouched."""

from __future__ import annotations

import json
import subprocess
import sys
from unittest import mock

import numpy as np
import onnxruntime as ort
import pytest

import irwua
import irwua.exporters
from irwua.cli import main
from irwua.errors import IrwuaError

torch = pytest.importorskip("torch")
nn = torch.nn


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 3))

    def forward(self, x):
        return self.net(x)


class CNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1, bias=False),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout(0.2),
            nn.Conv2d(4, 8, 3),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        return self.head(torch.flatten(self.features(x), 1))


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 3, 3, padding=1)
        self.conv2 = nn.Conv2d(3, 3, 3, padding=1)
        self.head = nn.Linear(3 * 6 * 6, 2)

    def forward(self, x):
        y = x + self.conv2(torch.relu(self.conv1(x)))
        return self.head(torch.relu(y).flatten(1))


class Recurrent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(5, 8, batch_first=True)
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(16, 2)

    def forward(self, x):
        return self.head(self.encoder(x).mean(1))


class TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.left = nn.Linear(4, 3)
        self.right = nn.Linear(6, 3)

    def forward(self, a, b):
        return self.left(a) + self.right(b)


def _randomized(model: nn.Module) -> nn.Module:
    """Random weights and BatchNorm statistics, as a trained model would have; training mode."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                values = torch.randn(tensor.shape, generator=generator) * 0.5
                tensor.copy_(values.abs() + 0.5 if name.endswith("running_var") else values)
    return model.train()


CASES = {
    "mlp": (MLP, (12,)),
    "cnn": (CNN, (1, 8, 8)),
    "residual": (Residual, (3, 6, 6)),
    "lstm": (Recurrent, (4, 5)),
    "transformer": (Encoder, (6, 16)),
}


def _snapshot(model: nn.Module) -> dict:
    """Everything analysis must leave as it was."""
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "modules": {
            name: (
                module.training,
                sorted(vars(module)),
                len(module._forward_hooks),
                len(module._forward_pre_hooks),
                len(module._backward_hooks),
                sorted(module._buffers),
                sorted(module._parameters),
            )
            for name, module in model.named_modules()
        },
    }


def _assert_unchanged(before: dict, after: dict) -> None:
    assert before["modules"] == after["modules"]
    assert before["state"].keys() == after["state"].keys()
    for key, value in before["state"].items():
        assert torch.equal(value, after["state"][key]), key


def _analyze(model, data, **kwargs):
    """``irwua.analyze`` plus the ``LoadedModel`` it analyzed (exporting once)."""
    real = irwua.exporters.load
    loaded = []

    def spy(*args, **kw):
        loaded.append(real(*args, **kw))
        return loaded[-1]

    with mock.patch.object(irwua.exporters, "load", spy):
        analysis = irwua.analyze(model, data, **kwargs)
    return analysis, loaded[0]


def _reference(model: nn.Module, *args) -> np.ndarray:
    """The model's output in eval mode (each module's training flag restored)."""
    flags = [(module, module.training) for module in model.modules()]
    model.eval()
    with torch.no_grad():
        out = model(*(torch.from_numpy(a) for a in args))
    for module, training in flags:
        module.training = training
    return out.numpy()


@pytest.fixture(scope="module", params=sorted(CASES))
def exported(request):
    factory, shape = CASES[request.param]
    torch.manual_seed(0)
    model = _randomized(factory())
    if request.param == "cnn":
        model.features[4].eval()  # mixed training flags must come back as they were
    data = np.random.default_rng(1).normal(size=(5, *shape)).astype(np.float32)
    before = _snapshot(model)
    analysis, loaded = _analyze(model, data)
    return request.param, model, data, before, analysis, loaded


def test_onnx_output_matches_torch(exported):
    _, model, data, _, _, loaded = exported
    session = ort.InferenceSession(loaded.source.proto.SerializeToString())
    (output,) = session.run(None, {"input": data})  # 5 samples: the batch axis is dynamic
    np.testing.assert_allclose(output, _reference(model, data), rtol=1e-4, atol=1e-5)


def test_every_layer_has_its_module_name(exported):
    _, model, _, _, analysis, _ = exported
    modules = {name for name, _ in model.named_modules() if name}
    names = [layer.framework_name for layer in analysis.graph.layers]
    assert names and all(name in modules for name in names), names
    assert analysis.graph.metadata["framework"] == "torch"


def test_parameter_count_is_torchs(exported):
    """irwua counts what the graph stores: torch's parameters, plus the BatchNorm running
    statistics that torch keeps as buffers (said in a note)."""
    name, model, _, _, analysis, _ = exported
    params = sum(p.numel() for p in model.parameters())
    statistics = sum(
        b.numel() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var"))
    )
    assert analysis.graph.metadata["framework_params"] == params
    assert analysis["flops"].total.params == params + statistics
    assert bool(statistics) == (name == "cnn")
    notes = " ".join(analysis.graph.metadata["export_notes"])
    assert ("running statistics" in notes) == bool(statistics)


def test_model_is_left_unchanged(exported):
    _, model, _, before, _, _ = exported
    _assert_unchanged(before, _snapshot(model))


def test_batchnorm_stays_its_own_layer():
    """BatchNorm is not folded into the conv, so the conv's weights are the user's weights."""
    model = _randomized(CNN()).eval()
    data = np.random.default_rng(2).normal(size=(3, 1, 8, 8)).astype(np.float32)
    analysis = irwua.analyze(model, data)
    layers = {layer.name: layer for layer in analysis.graph.layers}
    assert layers["features.1"].op_type == "BatchNormalization"
    weight = analysis.graph.constants.values[layers["features.0"].tensors["weight"]]
    np.testing.assert_array_equal(weight, model.features[0].weight.detach().numpy())
    assert "bias" not in layers["features.0"].tensors  # no made-up zero bias


@pytest.mark.parametrize("as_dict", [False, True], ids=["tuple", "dict"])
def test_several_inputs(as_dict):
    model = _randomized(TwoInputs()).eval()
    rng = np.random.default_rng(3)
    a = rng.normal(size=(4, 4)).astype(np.float32)
    b = rng.normal(size=(4, 6)).astype(np.float32)
    data = {"a": a, "b": b} if as_dict else (a, b)
    analysis, loaded = _analyze(model, data)
    names = [i.name for i in loaded.source.proto.graph.input]
    assert names == (["a", "b"] if as_dict else ["input_0", "input_1"])
    session = ort.InferenceSession(loaded.source.proto.SerializeToString())
    (output,) = session.run(None, dict(zip(names, (a, b), strict=True)))
    np.testing.assert_allclose(output, _reference(model, a, b), rtol=1e-4, atol=1e-5)
    assert [layer.name for layer in analysis.graph.layers] == ["left", "right"]


def test_torch_tensors_and_a_single_sample_are_accepted():
    model = _randomized(MLP())
    analysis = irwua.analyze(model, torch.randn(1, 12, dtype=torch.float64))
    assert analysis["flops"].total.params == sum(p.numel() for p in model.parameters())


class DataDependent(nn.Module):
    """torch.export cannot capture a branch on a tensor's value; TorchScript traces one branch."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x):
        if x.sum() > 0:
            return self.fc(x)
        return -self.fc(x)


def test_falls_back_to_torchscript_and_says_why():
    model = DataDependent()
    data = np.ones((2, 3), np.float32)
    analysis = irwua.analyze(model, data)
    (note,) = analysis.graph.metadata["export_notes"]
    assert "torch.export could not capture the model" in note and "TorchScript" in note
    assert [layer.framework_name for layer in analysis.graph.layers] == ["fc"]


@torch.library.custom_op("irwua_test::mystery", mutates_args=())
def mystery(x: torch.Tensor) -> torch.Tensor:
    """An op neither exporter has an ONNX translation for."""
    return x * 2


@mystery.register_fake
def _(x):
    return torch.empty_like(x)


class Untranslatable(nn.Module):
    def forward(self, x):
        return mystery(x)


def test_a_model_that_cannot_be_exported_gets_one_sentence():
    with pytest.raises(IrwuaError) as error:
        irwua.analyze(Untranslatable(), np.ones((2, 3), np.float32))
    message = str(error.value)
    assert message.startswith("PyTorch could not export the model to ONNX")
    assert "\n" not in message


def test_data_is_required():
    with pytest.raises(IrwuaError, match="needs sample input"):
        irwua.analyze(MLP())


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.trace is deprecated
def test_cli_loads_saved_torch_models_only_when_trusted(tmp_path, capsys):
    model = _randomized(MLP()).eval()
    data = np.random.default_rng(4).normal(size=(4, 12)).astype(np.float32)
    np.save(tmp_path / "x.npy", data)
    example = (torch.from_numpy(data),)
    batch = {0: torch.export.Dim("batch")}
    files = {
        "script.pt": lambda p: torch.jit.trace(model, example).save(p),
        "program.pt2": lambda p: torch.export.save(
            torch.export.export(model, example, dynamic_shapes=(batch,)), p
        ),
        "pickled.pt": lambda p: torch.save(model, p),
    }
    for name, save in files.items():
        path = tmp_path / name
        save(path)
        command = ["analyze", str(path), "--data", str(tmp_path / "x.npy"), "--quiet"]
        assert main([*command, "--out", str(tmp_path / "refused")]) == 2
        assert "--trust-code" in capsys.readouterr().err
        out = tmp_path / name.replace(".", "_")
        assert main([*command, "--trust-code", "--out", str(out)]) == 0, capsys.readouterr()
        document = json.loads((out / "analysis.json").read_text())
        assert [layer["name"] for layer in document["layers"]] == ["net.0", "net.2"], name
        assert document["totals"]["params"] == sum(p.numel() for p in model.parameters())


def test_cli_refuses_weights_without_a_model(tmp_path, capsys):
    torch.save(MLP().state_dict(), tmp_path / "weights.pt")
    np.save(tmp_path / "x.npy", np.zeros((2, 12), np.float32))
    command = ["analyze", str(tmp_path / "weights.pt"), "--data", str(tmp_path / "x.npy")]
    assert main([*command, "--trust-code", "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert "holds a state dict (4 tensors by name), not a model" in error
    assert "model.load_state_dict" in error and error.count("\n") == 1


def test_a_pickled_module_of_the_saving_script_says_how_to_pass_it(tmp_path):
    """A module whose class lived in the script that saved it (``__main__``) cannot be
    unpickled anywhere else: the error says what to do instead."""
    script = tmp_path / "save.py"
    script.write_text(
        "import torch\n"
        "class Net(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = torch.nn.Linear(4, 3)\n"
        "    def forward(self, x):\n"
        "        return self.fc(x)\n"
        "torch.save(Net(), 'net.pt')\n"
    )
    subprocess.run([sys.executable, str(script)], cwd=tmp_path, check=True)
    np.save(tmp_path / "x.npy", np.zeros((2, 4), np.float32))
    run = subprocess.run(
        [sys.executable, "-m", "irwua", "analyze", "net.pt", "--data", "x.npy", "--trust-code"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert "Can't get attribute 'Net'" in run.stderr and "irwua.analyze(model, data)" in run.stderr
    assert "torch.jit.save(torch.jit.script(model), path)" in run.stderr


@pytest.mark.parametrize("scripted", [False, True])
def test_data_that_does_not_fit_forward_names_the_shapes(scripted):
    model = torch.nn.Sequential(torch.nn.Linear(4, 3))
    model = torch.jit.script(model) if scripted else model
    with pytest.raises(
        IrwuaError,
        match=r"does not run on the data \(per sample: .* 7\): "
        r"mat1 and mat2 shapes cannot be multiplied \(2x7 and 4x3\)",
    ):
        irwua.analyze(model, np.zeros((5, 7), np.float32))


def test_pruning_a_torch_module_keeps_its_learned_tensors_counted():
    """The pruned tensors get new names; they are the module's learned tensors all the same."""
    model = MLP()
    data = np.random.default_rng(0).standard_normal((64, 12)).astype(np.float32)
    params = sum(p.numel() for p in model.parameters())
    zeroed = irwua.prune_model(model, data, ratio=0.5)
    assert zeroed.before.params == zeroed.after.params == params
    assert zeroed.after.nonzero < params
    shrunk = irwua.prune_model(model, data, ratio=0.5, structured=True)
    assert 0 < shrunk.after.params < params
