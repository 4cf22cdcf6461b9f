"""The launcher's choice of PyTorch build, and its install stamp (no pip is run here)."""

from chunky import setup_env


def test_cpu_machine_gets_pinned_cpu_build_from_pytorch_index() -> None:
    c = setup_env.choose_torch("Linux", nvidia=False, environ={})
    assert c.flavor == "cpu" and c.spec == setup_env.CPU_TORCH
    assert c.index_url == "https://download.pytorch.org/whl/cpu"


def test_nvidia_machine_gets_cuda_build_on_windows_and_linux() -> None:
    for system in ("Windows", "Linux"):
        c = setup_env.choose_torch(system, nvidia=True, environ={})
        assert c.flavor.startswith("cu") and c.index_url.endswith("/" + c.flavor)


def test_macos_uses_default_index() -> None:
    c = setup_env.choose_torch("Darwin", nvidia=False, environ={})
    assert c.index_url is None


def test_environment_overrides() -> None:
    env = {"CHUNKY_TORCH_INDEX": "https://example.invalid/whl/cu126", "CHUNKY_TORCH_SPEC": "torch==2.9.1"}
    c = setup_env.choose_torch("Windows", nvidia=True, environ=env)
    assert (c.spec, c.index_url) == ("torch==2.9.1", "https://example.invalid/whl/cu126")


def test_stamp_changes_with_requirements_and_flavor(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(setup_env, "STAMP", tmp_path / "stamp.json")
    cpu = setup_env.choose_torch("Linux", nvidia=False, environ={})
    gpu = setup_env.choose_torch("Linux", nvidia=True, environ={})
    dev_stamp = setup_env.stamp_for(cpu, dev=True)
    assert not setup_env.stamp_matches(dev_stamp)
    import json

    (tmp_path / "stamp.json").write_text(json.dumps(dev_stamp))
    assert setup_env.stamp_matches(dev_stamp)
    assert setup_env.stamp_matches(setup_env.stamp_for(cpu, dev=False)), "a dev install serves a plain start"
    assert not setup_env.stamp_matches(setup_env.stamp_for(gpu, dev=True))
