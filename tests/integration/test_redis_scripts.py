"""Scripted pipelines on the real Redis: no ``SCRIPT EXISTS`` round trip, and a script Redis does not know is
loaded and only its own commands are sent again (the others ran once)."""

from __future__ import annotations

from typing import Any

from photostream.settings import Settings
from producers.ids import new_id
from sinks import redis_scripts
from sinks.redis_client import async_client


def _script(redis: Any) -> Any:
    """A script no Redis has seen yet (its text is unique to this run), so its first EVALSHA is a NOSCRIPT."""
    return redis.register_script(f"-- {new_id()}\nreturn redis.call('INCRBY', KEYS[1], ARGV[1])")


def _probe_recorder(pipe: Any) -> list[tuple[Any, ...]]:
    """Records what the pipeline sends outside its batch (redis-py's script probe goes that way)."""
    sent: list[tuple[Any, ...]] = []
    original = pipe.immediate_execute_command

    async def recording(*args: Any, **options: Any) -> Any:
        sent.append(args)
        return await original(*args, **options)

    pipe.immediate_execute_command = recording
    return sent


async def test_an_unknown_script_is_loaded_and_only_its_commands_are_repeated(settings: Settings) -> None:
    redis = async_client(settings)
    script, scripted, plain = _script(redis), f"test:scripts:{new_id()}", f"test:scripts:{new_id()}"
    try:
        async with redis.pipeline(transaction=False) as pipe:
            probes = _probe_recorder(pipe)
            pipe.incr(plain)
            await script(keys=[scripted], args=[5], client=pipe)
            await script(keys=[scripted], args=[2], client=pipe)
            pipe.get(plain)
            assert await redis_scripts.execute(pipe) == [1, 5, 7, "1"]
        assert probes == []  # no SCRIPT EXISTS: the miss was repaired after the fact
        assert await redis.get(plain) == "1"  # the plain command ran once, not again with the repair
        assert await redis.get(scripted) == "7"

        async with redis.pipeline(transaction=False) as pipe:  # now loaded: one round trip, no repair
            probes = _probe_recorder(pipe)
            await script(keys=[scripted], args=[1], client=pipe)
            assert await redis_scripts.execute(pipe) == [8]
        assert probes == []
    finally:
        await redis.delete(scripted, plain)
        await redis.aclose()


async def test_other_errors_still_raise(settings: Settings) -> None:
    redis = async_client(settings)
    key = f"test:scripts:{new_id()}"
    try:
        await redis.set(key, "not a number")
        async with redis.pipeline(transaction=False) as pipe:
            await _script(redis)(keys=[key], args=[1], client=pipe)
            try:
                await redis_scripts.execute(pipe)
            except Exception as exc:  # the script's own error, after the NOSCRIPT repair
                assert "not an integer" in str(exc)
            else:
                raise AssertionError("a failing script must raise")
    finally:
        await redis.delete(key)
        await redis.aclose()
