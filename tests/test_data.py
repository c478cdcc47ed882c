"""Does the notebook's data cell load MNIST offline, and fail clearly without it?"""

import os
import urllib.error
import urllib.request

import pytest
import torch
import torchvision

from inn_course import notebooks


def _run_setup_cell(repo, data_root, monkeypatch):
    monkeypatch.setenv("INN_DATA_ROOT", str(data_root))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    setup = next(c for c in notebooks.read(repo.source_notebook).cells if c.id == "setup")
    namespace = {}
    exec(compile(setup.source, "setup-cell", "exec"), namespace)
    return namespace


def _snapshot(folder):
    return sorted((p, p.stat().st_mtime_ns) for p in folder.rglob("*"))


def test_loads_the_lab_data_without_writing(repo, data_root, monkeypatch):
    """Are 500 training and 10,000 test images loaded as 16x7x7, with nothing written to the data root?"""
    before = _snapshot(data_root)
    ns = _run_setup_cell(repo, data_root, monkeypatch)
    assert tuple(ns["train_x"].shape) == (500, 16, 7, 7) and tuple(ns["train_y"].shape) == (500,)
    assert tuple(ns["test_x"].shape) == (10000, 16, 7, 7) and tuple(ns["test_y"].shape) == (10000,)
    assert _snapshot(data_root) == before


def test_inputs_are_the_handouts_and_the_view_is_invertible(repo, data_root, monkeypatch):
    """Are train_x and test_x exactly what the handout's ToTensor + view(16, 7, 7) pipeline gives, and does
    to_image_view put the pixels back?"""
    import torchvision.transforms as transforms

    ns = _run_setup_cell(repo, data_root, monkeypatch)
    reshape = transforms.Lambda(lambda x: x.view(16, 7, 7))  # the handout's code
    for train, ours, labels in [(True, ns["train_x"], ns["train_y"]), (False, ns["test_x"], ns["test_y"])]:
        dataset = torchvision.datasets.MNIST(data_root, train=train, download=False,
                                             transform=transforms.Compose([transforms.ToTensor(), reshape]))
        for index in (0, 1, 123, len(ours) - 1):
            image, label = dataset[index]
            assert torch.equal(ours[index], image) and int(labels[index]) == label
    images = ns["train_set"].data[:5]
    assert torch.equal(ns["to_image_view"](ns["to_network_view"](images)), images.float() / 255)


def test_offline_without_files_says_where_to_put_them(repo, tmp_path, monkeypatch):
    """Offline with an empty data root, does the student get one clear sentence, not a urllib traceback?"""
    def no_network(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    with pytest.raises(FileNotFoundError) as caught:
        _run_setup_cell(repo, tmp_path, monkeypatch)
    message = str(caught.value)
    assert str(tmp_path / "MNIST" / "raw") in message and "INN_DATA_ROOT" in message
    assert caught.value.__suppress_context__  # the download traceback is not chained on
    assert os.listdir(tmp_path) in ([], ["MNIST"])
