"""Delivery tracking in the Publisher, against a fake broker whose delivery reports the test releases."""

import asyncio
import threading
import time

import pytest
from confluent_kafka import KafkaError

from photostream.settings import Settings
from producers import events, publisher
from producers.ids import new_id
from producers.publisher import Publisher, PublishError, PublishResult, PublishTimeoutError


class FakeMessage:
    def __init__(self, topic, partition, offset):
        self._topic, self._partition, self._offset = topic, partition, offset

    def topic(self):
        return self._topic

    def partition(self):
        return self._partition

    def offset(self):
        return self._offset


class FakeProducer:
    """Queues produced records; the test releases their reports, which ``poll``/``flush`` then serve (under one
    lock, so after ``flush`` returns every released report has been handled, whichever thread served it)."""

    def __init__(self, config):
        self.config = config
        self.produced = []  # (topic, value, key, callback)
        self.full_for = 0  # the next N produce calls raise BufferError
        self._released = []
        self._lock = threading.Lock()
        self._ready = threading.Condition()

    def produce(self, topic, value, key, on_delivery=None, headers=None):
        if self.full_for:
            self.full_for -= 1
            raise BufferError("queue full")
        self.produced.append((topic, value, key, on_delivery))

    def release(self, count=None, error=None):
        with self._ready:
            taken = self.produced[:count] if count is not None else list(self.produced)
            del self.produced[:len(taken)]
            self._released += [(error, t) for t in taken]
            self._ready.notify_all()

    def poll(self, timeout=0):
        with self._ready:
            if not self._released and timeout:
                self._ready.wait(timeout)
        return self._serve()

    def flush(self, timeout=None):
        self._serve()
        return len(self.produced)

    def _serve(self):
        served = 0
        with self._lock:
            while self._released:
                error, (topic, _, _, callback) = self._released.pop(0)
                served += 1
                callback(error, FakeMessage(topic, 2, 100 + served))
        return served


@pytest.fixture
def fake(monkeypatch):
    made = []

    def factory(config):
        made.append(FakeProducer(config))
        return made[-1]

    monkeypatch.setattr(publisher, "Producer", factory)
    pub = Publisher(Settings(dev_mode=True, publish_timeout_s=2))
    yield pub, made[0]
    made[0].release()
    pub.close()


def likes(count):
    return [events.like_changed(post_id=new_id(), user_id=new_id(), action="like") for _ in range(count)]


def test_a_batch_resolves_only_once_its_last_report_is_in(fake):
    pub, broker = fake
    batch = likes(3)
    future = pub.submit_many(batch)
    assert [(t, v, k) for t, v, k, _ in broker.produced] == [(e.topic, e.payload, e.key) for e in batch]
    broker.release(2)
    pub.flush()
    assert not future.done()
    broker.release()
    assert future.result(timeout=5) == 3


@pytest.mark.parametrize(("code", "error_type"), [(KafkaError._MSG_TIMED_OUT, PublishTimeoutError),
                                                 (KafkaError.MSG_SIZE_TOO_LARGE, PublishError)])
def test_a_failed_delivery_fails_the_batch_after_every_report(fake, code, error_type):
    pub, broker = fake
    future = pub.submit_many(likes(3))
    broker.release(1)
    broker.release(1, error=KafkaError(code))
    pub.flush()
    assert not future.done()  # one report still out
    broker.release()
    with pytest.raises(error_type):
        future.result(timeout=5)


def test_an_empty_batch_is_done_at_once(fake):
    pub, broker = fake
    assert pub.submit_many([]).result(timeout=0) == 0
    assert broker.produced == []


def test_a_full_local_queue_is_waited_out_not_dropped(fake):
    pub, broker = fake
    broker.full_for = 3
    future = pub.submit_many(likes(2))
    assert len(broker.produced) == 2
    broker.release()
    assert future.result(timeout=5) == 2


def test_a_queue_full_for_the_whole_timeout_is_a_publish_timeout(fake):
    pub, broker = fake
    broker.full_for = 10**9
    with pytest.raises(PublishTimeoutError):
        pub.submit(likes(1)[0])


def test_reports_served_by_two_threads_settle_the_batch_exactly_once(fake):
    pub, broker = fake
    count = 20_000
    future = pub.submit_many(likes(1) * count)
    callbacks = [callback for *_, callback in broker.produced]
    broker.produced.clear()
    message = FakeMessage("like-changed", 0, 1)

    def serve(share):
        for callback in share:
            callback(None, message)

    threads = [threading.Thread(target=serve, args=(callbacks[i::2],)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert future.result(timeout=5) == count


def test_submit_resolves_to_where_the_record_landed(fake):
    pub, broker = fake
    event = likes(1)[0]
    future = pub.submit(event)
    broker.release()
    assert future.result(timeout=5) == PublishResult("like-changed", 2, 101, event.event_id)


async def test_publish_async_resolves_and_fails_like_publish(fake):
    pub, broker = fake
    event = likes(1)[0]
    waiting = asyncio.ensure_future(pub.publish_async(event))
    await asyncio.sleep(0)  # let it produce
    broker.release()
    result = await asyncio.wait_for(waiting, 5)
    assert result.event_id == event.event_id and result.partition == 2
    failing = asyncio.ensure_future(pub.publish_async(likes(1)[0]))
    await asyncio.sleep(0)
    broker.release(error=KafkaError(KafkaError._MSG_TIMED_OUT))
    with pytest.raises(PublishTimeoutError):
        await asyncio.wait_for(failing, 5)


def test_a_raising_callback_does_not_stop_the_delivery_thread(fake):
    pub, broker = fake
    broker.produce("like-changed", b"x", "k", on_delivery=lambda *_: 1 / 0)
    future = pub.submit(likes(1)[0])
    broker.release()  # served by the delivery thread (the poll in this test never runs)
    assert future.result(timeout=5).partition == 2


def test_a_closed_publisher_refuses_at_once(fake):
    """Nothing serves delivery reports after ``close``: a publish waited out its whole timeout, then raised a bare
    ``TimeoutError``."""
    pub, broker = fake
    broker.release()
    pub.close()
    started = time.monotonic()
    for attempt in (lambda: pub.publish(likes(1)[0]), lambda: pub.submit_many(likes(2))):
        with pytest.raises(PublishError, match="closed"):
            attempt()
    assert time.monotonic() - started < 1.0


def test_closing_with_the_broker_gone_fails_every_waiting_future_instead_of_leaving_it_forever() -> None:
    """close() flushed for its timeout, then stopped the delivery thread: records the broker never answered
    kept their futures pending forever (a caller blocked on result() hung). They fail now, as timeouts."""
    from producers import events
    from producers.ids import new_id
    from producers.publisher import PublishTimeoutError

    settings = Settings(kafka_bootstrap_servers="127.0.0.1:1", publish_timeout_s=0.5)
    publisher = Publisher(settings)
    futures = [publisher.submit(events.like_changed(post_id=new_id(), user_id=new_id(), action="like"))
               for _ in range(3)]
    publisher.close()
    for future in futures:
        assert future.done()
        assert isinstance(future.exception(timeout=0), PublishTimeoutError)


def test_closing_with_a_shorter_timeout_waits_no_longer_for_a_broker_known_gone() -> None:
    """A caller that has already flushed in vain (the simulator after Ctrl-C) closes without waiting the whole
    publish timeout again: Ctrl-C with the stack down took 20 s. The waiting futures still fail."""
    from producers import events
    from producers.ids import new_id
    from producers.publisher import PublishTimeoutError

    publisher = Publisher(Settings(kafka_bootstrap_servers="127.0.0.1:1", publish_timeout_s=30))
    future = publisher.submit(events.like_changed(post_id=new_id(), user_id=new_id(), action="like"))
    started = time.monotonic()
    publisher.close(timeout_s=0)
    assert time.monotonic() - started < 5  # (one second serving the purged records' reports; not 30)
    assert isinstance(future.exception(timeout=0), PublishTimeoutError)


def test_a_closed_publisher_refuses_raw_batches_as_it_refuses_events() -> None:
    from producers.publisher import RawRecord

    publisher = Publisher(Settings(kafka_bootstrap_servers="127.0.0.1:1", publish_timeout_s=0.5))
    publisher.close()
    with pytest.raises(PublishError, match="closed"):
        publisher.submit_raw_many([RawRecord("like-changed", b"k", b"v")])
    assert publisher._raw_lane is None  # no producer opened for nothing


def test_a_record_sent_while_the_publisher_closes_is_refused_not_left_pending() -> None:
    """close() flushed for its timeout before it refused anything: a record queued meanwhile was neither purged
    nor served, and its future never resolved."""
    publisher = Publisher(Settings(kafka_bootstrap_servers="127.0.0.1:1", publish_timeout_s=1.0))
    waiting = publisher.submit(events.like_changed(post_id=new_id(), user_id=new_id(), action="like"))
    closing = threading.Thread(target=publisher.close)
    closing.start()
    while not publisher._closing.is_set():  # (set first thing in close(), before its flush)
        time.sleep(0.001)
    with pytest.raises(PublishError, match="closed"):
        publisher.submit(events.like_changed(post_id=new_id(), user_id=new_id(), action="like"))
    closing.join(10)
    assert isinstance(waiting.exception(timeout=0), PublishTimeoutError)
