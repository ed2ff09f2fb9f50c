"""Sample data from .npy / .npz files, read without pickle."""

from __future__ import annotations

import numpy as np
import pytest

from irwua.data.files import read_data_file
from irwua.errors import IrwuaError


def test_npy_is_one_array(tmp_path):
    np.save(tmp_path / "x.npy", np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(read_data_file(tmp_path / "x.npy"), np.arange(6.0).reshape(2, 3))


def test_npz_by_name_is_a_dict(tmp_path):
    np.savez(tmp_path / "x.npz", image=np.zeros((2, 3)), mask=np.ones((2, 1)))
    data = read_data_file(tmp_path / "x.npz")
    assert sorted(data) == ["image", "mask"]


def test_npz_saved_positionally_is_a_list_in_order(tmp_path):
    arrays = [np.full((2, 1), i) for i in range(12)]
    np.savez(tmp_path / "x.npz", *arrays)
    data = read_data_file(tmp_path / "x.npz")
    assert [int(a[0, 0]) for a in data] == list(range(12))


def test_object_arrays_need_pickle_and_are_refused(tmp_path):
    np.save(tmp_path / "x.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(IrwuaError, match="holds Python objects, which only pickle can load"):
        read_data_file(tmp_path / "x.npy")


@pytest.mark.parametrize("name", ["missing.npy", "data.csv"])
def test_missing_or_other_files(tmp_path, name):
    (tmp_path / "data.csv").write_text("1,2\n")
    with pytest.raises(IrwuaError, match=r"does not exist|not an \.npy or \.npz"):
        read_data_file(tmp_path / name)
