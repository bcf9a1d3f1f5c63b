"""Pipelines that call Lua scripts by EVALSHA alone, without redis-py's extra round trip per execution.

Why: redis-py's ``Pipeline.execute`` first sends ``SCRIPT EXISTS`` for every script queued on it (and
``SCRIPT LOAD`` for any missing), one more round trip on every feed page with celebrities, every status read,
every fan-out, ranking and notification batch. Scripts are almost always loaded, so :func:`execute` sends the
pipeline as it is and repairs the rare miss instead: a script Redis does not know (it restarted, or its script
cache was flushed) fails that one EVALSHA with NOSCRIPT and nothing else; the scripts are loaded and exactly the
failed commands are sent again, their answers put back in place. Commands that succeeded are not repeated.
A repaired call then runs after the pipeline's later commands: use it where no later command in the same
pipeline reads or writes what a script touches (true of every caller: feeds, pull sets, status, rankings,
notification lists each queue independent keys).

Transactions (``MULTI``/``EXEC``) keep redis-py's own path: a NOSCRIPT inside one would have let the rest of the
transaction apply without it.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio.client import Pipeline
from redis.exceptions import NoScriptError


async def execute(pipe: Any) -> list[Any]:
    """``pipe.execute()`` for a non-transactional pipeline whose scripts were queued with ``client=pipe``."""
    if not isinstance(pipe, Pipeline) or pipe.is_transaction or pipe.explicit_transaction:
        return list(await pipe.execute())  # a cluster pipeline probes nothing; a transaction keeps its probe
    stack = list(pipe.command_stack)
    scripts = list(pipe.scripts)
    pipe.scripts.clear()  # not probed: a miss is repaired below
    results = list(await pipe.execute(raise_on_error=False))
    missed = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
    if missed and scripts:
        for script in scripts:
            await script.registered_client.script_load(script.script)
        async with scripts[0].registered_client.pipeline(transaction=False) as again:
            for i in missed:
                args, options = stack[i]
                again.pipeline_execute_command(*args, **options)
            for i, result in zip(missed, await again.execute(raise_on_error=False), strict=True):
                results[i] = result
    for result in results:
        if isinstance(result, Exception):
            raise result
    return results
