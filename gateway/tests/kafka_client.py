"""An independent Kafka client for the tests, on Python's confluent-kafka.

produce BOOTSTRAP TOPIC   reads JSON lines on stdin, sends each keyed by
                          its "symbol" (none if it has none), and flushes.
consume BOOTSTRAP TOPIC.. prints every message of every partition, from the
                          beginning to the current end, as TOPIC<TAB>VALUE.

It shares no code with the engine, so the formats are checked end to end.
"""

import json
import sys

from confluent_kafka import Consumer, Producer, TopicPartition


def produce(bootstrap, topic):
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5}
    )
    failures = []

    def report(err, _msg):
        if err is not None:
            failures.append(str(err))

    for line in sys.stdin:
        line = line.rstrip("\n")
        try:
            key = json.loads(line).get("symbol")
        except (ValueError, AttributeError):
            key = None
        while True:
            try:
                producer.produce(topic, key=key, value=line, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    left = producer.flush(120)
    if left or failures:
        sys.exit(f"produce: {left} unflushed, failures: {failures[:3]}")


def consume(bootstrap, topics):
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "engine-tests-python",
            "enable.auto.commit": False,
        }
    )
    ends = {}
    assignment = []
    for topic in topics:
        metadata = consumer.list_topics(topic, timeout=20)
        for partition in metadata.topics[topic].partitions:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=20
            )
            if high > low:
                ends[(topic, partition)] = high
                assignment.append(TopicPartition(topic, partition, low))
    consumer.assign(assignment)
    out = sys.stdout
    idle = 0
    # Read to the watermarks, then on until two seconds pass with nothing:
    # tansu's reported high watermark can lag what a fetch returns.
    while ends or idle < 4:
        message = consumer.poll(0.5)
        if message is None:
            idle += 1
            if idle > 240:
                sys.exit(f"consume: timed out; still waiting for {sorted(ends)}")
            continue
        idle = 0
        if message.error():
            continue
        key = (message.topic(), message.partition())
        out.write(f"{message.topic()}\t{message.value().decode()}\n")
        if key in ends and message.offset() + 1 >= ends[key]:
            del ends[key]
    consumer.close()


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "produce":
        produce(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 4 and sys.argv[1] == "consume":
        consume(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(__doc__)
