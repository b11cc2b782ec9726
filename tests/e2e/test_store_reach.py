"""The store from the real CLI: a PostgreSQL store the bridge cannot use is one clear
line (the extra to install when asyncpg is missing, exit 2; the database and its answer
when it does not answer, exit 1), ``check`` says both before anything is run, and
``migrate`` brings a new database to this version's schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from bridge.store.migrate import MIGRATIONS
from sandbox.lms import SandboxLMS
from tests.conftest import free_port
from tests.core.test_missing_sdk import run_cli
from tests.e2e.harness import bridge_config
from tests.stores import rows
from tests.support import cli

pytestmark = pytest.mark.e2e

INSTALL = 'pip install "pluto-bridge[postgres]"'


def on_store(tmp: Path, url: str, lms_url: str = "http://127.0.0.1:9") -> Path:
    config, _ = bridge_config(tmp, lms_url, store={"url": url}, lms={"token": "t"})
    return config


def test_a_postgresql_store_without_asyncpg_names_the_extra(tmp_path: Path) -> None:
    config = on_store(tmp_path, f"postgresql+asyncpg://bridge@127.0.0.1:{free_port()}/bridge")
    done = run_cli(tmp_path, "asyncpg", "run", "--config", str(config))
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"error: store.url names PostgreSQL but its driver is not installed (no module 'asyncpg'): {INSTALL}"
    )
    checked = run_cli(tmp_path, "asyncpg", "check", "--config", str(config))
    assert checked.returncode == 2 and INSTALL in checked.stdout, checked.stdout + checked.stderr
    listed = run_cli(tmp_path, "asyncpg", "link", "list", "--config", str(config))  # any command on the store
    assert listed.returncode == 2 and INSTALL in listed.stderr and "Traceback" not in listed.stderr


def test_an_unreachable_database_is_named_with_its_answer(tmp_path: Path, lms: SandboxLMS) -> None:
    port = free_port()  # nobody listens there
    config = on_store(tmp_path, f"postgresql+asyncpg://bridge:s3cret-pw@127.0.0.1:{port}/bridge", lms.url)
    done = run_cli(tmp_path, "no_such_module", "run", "--config", str(config))
    assert done.returncode == 1, done.stderr
    [line] = [line for line in done.stderr.splitlines() if "store" in line]
    assert line.startswith(f"error: store unreachable: PostgreSQL 127.0.0.1:{port}/bridge: ")
    assert "Traceback" not in done.stderr and "s3cret-pw" not in done.stderr
    checked = run_cli(tmp_path, "no_such_module", "check", "--config", str(config))
    assert checked.returncode == 1
    assert f"store unreachable: PostgreSQL 127.0.0.1:{port}/bridge: " in checked.stdout


@pytest.mark.postgres
def test_check_says_a_reachable_postgresql_store_is_ok(tmp_path: Path, bridge_store_url: str) -> None:
    config = on_store(tmp_path, bridge_store_url)
    checked = run_cli(tmp_path, "no_such_module", "check", "--config", str(config))
    said = [line for line in checked.stdout.splitlines() if line.startswith("store")]
    if bridge_store_url.startswith("sqlite"):
        assert said == []  # a SQLite file is made by `run`: nothing to check
    else:
        assert said == [f"store: ok; PostgreSQL {bridge_store_url.rsplit('@', 1)[1]}"]


@pytest.mark.postgres
async def test_migrate_brings_an_empty_store_to_this_version(tmp_path: Path, bridge_store_url: str) -> None:
    if not bridge_store_url.startswith("sqlite"):
        rows(bridge_store_url, "DROP SCHEMA public CASCADE; CREATE SCHEMA public")  # as a new database
    config = on_store(tmp_path, bridge_store_url)
    code, out, err = await cli("migrate", "--config", str(config))
    assert code == 0, err
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert out.strip().endswith(f": schema at {head}")
    assert rows(bridge_store_url, "SELECT count(*) FROM outbox") == [("0",)]
