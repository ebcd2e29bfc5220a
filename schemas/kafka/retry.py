"""The one retry policy for writes to Kafka, Redis and ClickHouse (tenacity), stop-aware.

Exponential backoff from `initial` doubling up to `maximum`, or the delay the error names
(`Backpressure.retry_after`); given up after `attempts` tries or `within` seconds, when set.
With a stop event the waits are `stop.wait`: setting it ends the wait at once and raises
`StopRequested`, so a loop asked to stop does not sit out a backoff (nor try once more).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception,
    retry_if_result,
    stop_after_attempt,
    stop_after_delay,
    stop_any,
    stop_never,
)

T = TypeVar("T")
MAX_DELAY = 5.0

RetryOn = tuple[type[BaseException], ...] | Callable[[BaseException], bool]


class StopRequested(Exception):
    """The stop event was set while a retry waited: the caller stops instead of retrying."""


def named_delay(exc: BaseException | None) -> float | None:
    """The delay an error asks for (Backpressure's `retry_after`), if any."""
    value = getattr(exc, "retry_after", None)
    return float(value) if isinstance(value, int | float) else None


def retrying(
    retry_on: RetryOn,
    *,
    stop: threading.Event | None = None,
    attempts: int | None = None,
    within: float | None = None,
    initial: float = 0.5,
    maximum: float = MAX_DELAY,
    delay_of: Callable[[BaseException | None], float | None] = named_delay,
    on_retry: Callable[[BaseException | None, float], None] | None = None,
) -> Retrying:
    """The policy as a tenacity `Retrying`: call it with the function and its arguments.
    The last error is raised when the policy gives up; errors `retry_on` does not match are
    raised at once."""
    matches = retry_on if callable(retry_on) and not isinstance(retry_on, tuple) else None

    def retriable(exc: BaseException) -> bool:
        return matches(exc) if matches is not None else isinstance(exc, retry_on)  # type: ignore[arg-type]

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        named = delay_of(exc)
        if named is not None:
            return named
        return min(initial * 2 ** (state.attempt_number - 1), maximum)

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None and state.next_action is not None:
            exc = state.outcome.exception() if state.outcome else None
            on_retry(exc, state.next_action.sleep)

    limits = [stop_after_attempt(attempts)] if attempts is not None else []
    limits += [stop_after_delay(within)] if within is not None else []
    return Retrying(
        retry=retry_if_exception(retriable),
        wait=wait,
        stop=stop_any(*limits) if limits else stop_never,
        sleep=_stop_aware_sleep(stop),
        before_sleep=before_sleep,
        reraise=True,
    )


def poll_until(
    read: Callable[[], T],
    done: Callable[[T], bool],
    *,
    within: float,
    every: float = 0.1,
    stop: threading.Event | None = None,
    retry_on: RetryOn = (),
) -> T:
    """`read()` every `every` seconds until `done(value)`: the value; TimeoutError after
    `within` seconds. Errors `retry_on` matches are read again too."""
    policy = retrying(retry_on, stop=stop, within=within, initial=every, maximum=every)
    policy = policy.copy(retry=policy.retry | retry_if_result(lambda value: not done(value)))
    policy.reraise = False
    try:
        return policy(read)
    except RetryError as exc:
        last = exc.last_attempt
        if last.failed:
            raise last.exception() from None  # type: ignore[misc]
        raise TimeoutError(f"not done within {within:g}s: {last.result()!r}") from None


def _stop_aware_sleep(stop: threading.Event | None) -> Callable[[float], Any]:
    if stop is None:
        return time.sleep

    def sleep(seconds: float) -> None:
        if stop.wait(seconds):
            raise StopRequested("stopping: not retried")

    return sleep
