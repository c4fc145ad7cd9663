"""``python -m chatbot.member``: one more member of the service's consumer group,
started by chatbot/pipeline/members.py with the service's environment. It runs only the
consume loop (the same wiring as ``serve``: chatbot/pipeline/wiring.py), stores into the
same database, and on SIGTERM finishes the batch it is storing and exits 0. The service
process has migrated the database already.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from chatbot import logs
from chatbot.clock import SystemClock
from chatbot.config.settings import Settings, settings_from_env
from chatbot.metrics import Metrics
from chatbot.pipeline.kafka_clients import consumer_kwargs, producer_kwargs
from chatbot.pipeline.wiring import flow_consumer
from chatbot.store.db import make_engine, make_sessions

log = logging.getLogger("chatbot.member")


async def run(settings: Settings) -> None:
    from chatbot.service import rules_from

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    engine = make_engine(settings.database_url.reveal())
    kafka_consumer = AIOKafkaConsumer(**consumer_kwargs(settings.kafka))
    producer = AIOKafkaProducer(**producer_kwargs(settings.kafka))
    flow = flow_consumer(consumer=kafka_consumer, producer=producer, settings=settings.kafka,
                         sessions=make_sessions(engine), rules=rules_from(settings),
                         clock=SystemClock(), metrics=Metrics(), on_stored=lambda _r: None)
    await producer.start()
    await kafka_consumer.start()
    consuming = asyncio.create_task(flow.run(), name="flow-consumer")
    try:
        await stop.wait()
        await flow.stop()
        await consuming
    finally:
        consuming.cancel()
        await kafka_consumer.stop()
        await producer.stop()
        await engine.dispose()


def main() -> None:
    settings = settings_from_env()
    logs.configure(settings.log_level)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
