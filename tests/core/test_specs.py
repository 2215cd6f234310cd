"""Specs: validation with field paths, YAML/JSON round trips, --set overrides, discriminated backend."""

from __future__ import annotations

import json

import pytest
import yaml

from starmd.core.specs import (
    E3nnGraphSpec,
    FrameIPASpec,
    ModelSpec,
    RolloutSpec,
    TrainingSpec,
    apply_overrides,
    load_spec,
    save_spec,
)
from starmd.errors import SpecError


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_round_trip_file(tmp_path, suffix):
    spec = TrainingSpec(model=ModelSpec(backend=E3nnGraphSpec(k=8), attention="factorized"), steps=7)
    path = tmp_path / f"train{suffix}"
    save_spec(spec, path)
    assert load_spec(path, TrainingSpec) == spec
    assert load_spec(path) == spec  # type guessed from the keys
    assert not list(tmp_path.glob("*.tmp"))


def test_backend_is_discriminated_union():
    spec = ModelSpec.model_validate({"backend": {"kind": "e3nn_graph", "k": 4}})
    assert isinstance(spec.backend, E3nnGraphSpec) and spec.backend.k == 4
    assert isinstance(ModelSpec().backend, FrameIPASpec)


def test_unknown_field_names_its_path(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"model": {"backend": {"kind": "frame_ipa", "heads": 2, "bogus": 1}}}))
    with pytest.raises(SpecError) as err:
        load_spec(path, TrainingSpec)
    msg = str(err.value)
    assert "bad.yaml" in msg and "model.backend.bogus" in msg and "unknown field" in msg
    assert "\n" not in msg


def test_wrong_type_names_field():
    with pytest.raises(SpecError, match=r"--set: steps: "):
        apply_overrides(TrainingSpec(), ["steps=many"])


def test_overrides_parse_yaml_values_and_switch_backend():
    spec = apply_overrides(TrainingSpec(), ["model.hidden=64", "lr=3e-4", "data.strides=[1,2]",
                                             "model.backend.kind=e3nn_graph", "model.backend.k=5"])
    assert spec.model.hidden == 64 and spec.lr == pytest.approx(3e-4) and spec.data.strides == [1, 2]
    assert isinstance(spec.model.backend, E3nnGraphSpec) and spec.model.backend.k == 5
    assert apply_overrides(RolloutSpec(), ["window=null"]).window is None


def test_invalid_values_rejected():
    with pytest.raises(SpecError, match="divisible"):
        apply_overrides(ModelSpec(), ["hidden=100", "heads=8"])
    with pytest.raises(SpecError, match="powers of two"):
        apply_overrides(TrainingSpec(), ["data.strides=[3]"])
    with pytest.raises(SpecError, match="expected key.sub=value"):
        apply_overrides(TrainingSpec(), ["steps"])


def test_bad_files(tmp_path):
    with pytest.raises(SpecError, match="cannot read"):
        load_spec(tmp_path / "missing.yaml", TrainingSpec)
    p = tmp_path / "x.json"
    p.write_text("{not json")
    with pytest.raises(SpecError, match="x.json: not valid JSON"):
        load_spec(p, TrainingSpec)
    p.write_text(json.dumps([1, 2]))
    with pytest.raises(SpecError, match="mapping"):
        load_spec(p, TrainingSpec)
    q = tmp_path / "y.yaml"
    q.write_text("wibble: 1\n")
    with pytest.raises(SpecError, match="cannot tell which spec"):
        load_spec(q)


def test_presets_validate():
    assert ModelSpec.tiny().hidden < ModelSpec().hidden
    assert ModelSpec.small().blocks >= 1
