"""The in-memory session store: JSON entries by call id, fresh copies out."""

from __future__ import annotations

import pytest

from line311.call.store import InMemorySessionStore, SessionStore


async def test_given_saved_entries_when_loaded_then_copies_come_back_and_deletes_forget():
    store = InMemorySessionStore()
    entry = {"kind": "ivr", "state": {"nodes": ["main"]}, "call": {"channel_id": "c1"}}
    await store.save("c1", entry)
    loaded = await store.load("c1")
    assert loaded == entry
    assert loaded is not None
    loaded["state"]["nodes"].append("x")
    assert await store.load("c1") == entry  # what was stored is not changed by the caller
    assert await store.call_ids() == ["c1"]
    await store.delete("c1")
    await store.delete("c1")  # unknown: no error
    assert await store.load("c1") is None
    assert len(store) == 0


async def test_a_state_that_is_not_json_is_refused_when_saved():
    store = InMemorySessionStore()
    with pytest.raises(TypeError):
        await store.save("c1", {"state": {"at": object()}})
    assert await store.call_ids() == []


async def test_closing_the_in_memory_store_keeps_its_entries() -> None:
    store: SessionStore = InMemorySessionStore()
    await store.save("c1", {"kind": "ivr"})
    await store.close()  # what every store does at the process's end
    assert await store.load("c1") == {"kind": "ivr"}
