"""test_broker_kill.py - RabbitMQ SIGKILLed in the middle of a sale, under
the crowd of test_backend_outages.py (whose machinery and checks it uses),
then started again on its data: nothing lost, nothing oversold, 503 with
Retry-After while the broker is away.

NOT YET IN `make check`: it found a bug it cannot yet pass every time. In
about one run in four on a loaded machine (seen in CI's distcheck), a
quarter of the bookings answered 202 stayed `queued` for good after the
broker came back: the publisher reconnected, the daemon's consumer never
consumed again (no delivery reached the worker in 3 minutes). Until that is
found and fixed, tests/faults/run-long runs this file, and the note on
issue 13 says so."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import harness  # noqa: E402
from harness import note  # noqa: E402
from test_backend_outages import ROUNDS, OutageCase  # noqa: E402


class BrokerKill(OutageCase):
    def test_rabbitmq_killed_mid_sale_loses_nothing(self):
        for rnd in range(ROUNDS):
            self.crowd_through_outage("queue", self.rabbit.kill, self.rabbit.start)
            note("round %d: broker SIGKILLed and started again on its data"
                 % (rnd + 1))


if __name__ == "__main__":
    harness.main()
