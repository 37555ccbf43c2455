"""test_broker_kill.py - RabbitMQ SIGKILLed in the middle of a sale, under
the crowd of test_backend_outages.py (whose machinery and checks it uses),
then started again on its data: nothing lost, nothing oversold, 503 with
Retry-After while the broker is away.

NOT YET IN `make check`: it found a durability gap it does not pass every
time. Under load (CI's distcheck, or a make check running beside it), in
about one round in ten, a few hundred bookings answered 202 before the kill
stay `queued` for good. The broker then holds none of their messages (0
ready, 0 unacked, its consumer attached: the failure message lists what the
broker holds), so they were lost between the confirm and the restart:
either RabbitMQ's classic queue lost confirmed messages on SIGKILL, or the
publisher answered 202 without a real confirm. Until that is told apart and
fixed, tests/faults/run-long runs this file, and the note on issue 13 says
so."""

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
