"""The bare-RabbitMQ baseline every benchmark prints beside its own figures.

One hop with plain pika: a publisher thread sends persistent 200-byte messages to a durable queue,
a consumer (prefetch 100, ack each) takes them; we report msg/s and the publish→consume latency.
Run alone: `python -m bench.baseline [--messages 20000]`.
"""

from __future__ import annotations

import argparse
import struct
import threading
import time
import uuid

import pika

from shared.config import DEFAULT_AMQP_URL


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) of `values` by nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def bare_one_hop(amqp_url: str = DEFAULT_AMQP_URL, messages: int = 20_000, size: int = 200,
                 offered_rate: float | None = None) -> dict[str, float]:
    """Publish and consume `messages` through one durable queue at once; return rate and latency.

    Flat out (no `offered_rate`) measures throughput; latency is only meaningful when paced.
    """
    queue = f"bench.baseline.{uuid.uuid4().hex[:8]}"
    setup = pika.BlockingConnection(pika.URLParameters(amqp_url))
    setup.channel().queue_declare(queue, durable=True)
    latencies: list[float] = []
    done = threading.Event()

    def consume() -> None:
        connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
        channel = connection.channel()
        channel.basic_qos(prefetch_count=100)
        for method, _props, body in channel.consume(queue, inactivity_timeout=30):
            if method is None:
                break
            latencies.append(time.perf_counter() - struct.unpack("d", body[:8])[0])
            channel.basic_ack(method.delivery_tag)
            if len(latencies) >= messages:
                break
        channel.cancel()
        connection.close()
        done.set()

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    props = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent)
    padding = b"x" * (size - 8)
    started = time.perf_counter()
    for index in range(messages):
        if offered_rate:
            delay = started + index / offered_rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        channel.basic_publish("", queue, struct.pack("d", time.perf_counter()) + padding, props)
    connection.close()
    done.wait(120)
    elapsed = time.perf_counter() - started
    setup.channel().queue_delete(queue)
    setup.close()
    return {
        "messages": len(latencies),
        "rate": len(latencies) / elapsed,
        "latency_p50_ms": percentile(latencies, 50) * 1000,
        "latency_p99_ms": percentile(latencies, 99) * 1000,
    }


def measure_baseline(amqp_url: str = DEFAULT_AMQP_URL, messages: int = 20_000) -> dict[str, float]:
    """Flat-out throughput plus latency at 2,000 msg/s offered, as PERFORMANCE.md measures them."""
    flat = bare_one_hop(amqp_url, messages)
    paced = bare_one_hop(amqp_url, min(messages, 6_000), offered_rate=2_000)
    return {"rate": flat["rate"], "messages": flat["messages"],
            "latency_p50_ms": paced["latency_p50_ms"], "latency_p99_ms": paced["latency_p99_ms"]}


def print_baseline(result: dict[str, float]) -> None:
    """Print the baseline in the benchmarks' common format."""
    print(f"baseline  bare pika one hop (persistent, prefetch 100, ack each): {result['rate']:,.0f} msg/s flat out; "
          f"latency at 2,000 msg/s p50 {result['latency_p50_ms']:.2f} ms  p99 {result['latency_p99_ms']:.2f} ms")


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--amqp-url", default=DEFAULT_AMQP_URL)
    args = parser.parse_args()
    print_baseline(measure_baseline(args.amqp_url, args.messages))


if __name__ == "__main__":
    main()
