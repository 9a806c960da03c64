"""Config validation: a bad value is a clear error naming the key, before anything starts."""

import pytest

from mm.config import ConfigError, load_config, parse_config


def test_defaults_are_valid():
    cfg = parse_config("")
    assert cfg.run.mode == "paper"
    assert cfg.ipc.slot_count & (cfg.ipc.slot_count - 1) == 0


def test_shipped_paper_config_loads():
    cfg = load_config("configs/paper.toml")
    assert cfg.run.mode == "paper"
    assert cfg.exposure.start_level == "SHADOW"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[ipc]\nslot_count = 100", "ipc.slot_count"),
        ("[ipc]\nslot_count = -1", "ipc.slot_count"),
        ("[ipc]\nslot_size = 100", "ipc.slot_size"),
        ("[ipc]\nwait = 'sometimes'", "ipc.wait"),
        ("[ipc]\nbogus = 1", "bogus"),
        ("[run]\nmode = 'yolo'", "run.mode"),
        ("[run]\nsymbols = []", "run.symbols"),
        ("[supervisor]\nrestartable = ['nope']", "supervisor.restartable"),
        ("[supervisor]\nheartbeat_interval_ms = 200\nheartbeat_deadline_ms = 250", "heartbeat_deadline_ms"),
        ("[run]\nsymbols = ['SOL']", "binance_symbols"),
        ("[exposure]\nsize_multipliers = [0.5, 1, 1, 1, 1, 1]", "exposure.size_multipliers"),
        ("[cores]\nfeed = -2", "cores.feed"),
        ("[supervisor]\ndeadline_overrides_ms = {monitor = 10}", "deadline_overrides_ms.monitor"),
        ("[supervisor]\ndeadline_overrides_ms = {mon = 1000}", "deadline_overrides_ms"),
    ],
)
def test_bad_values_name_the_key(text, key):
    with pytest.raises(ConfigError) as err:
        parse_config(text, source="test.toml")
    assert key in str(err.value)
    assert "test.toml" in str(err.value)


def test_not_toml_is_a_clear_error():
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_config("[run\n", source="x.toml")


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(str(tmp_path / "absent.toml"))


def test_live_mode_refuses_loopback_venue():
    with pytest.raises(ConfigError, match="loopback"):
        parse_config("[run]\nmode = 'live'")
