#!/usr/bin/env python3
"""At-least-once delivery across crashes and stops: the outbox keeps what no sink confirmed."""

import signal

import vigiltest
from vigiltest import VigilTestCase

ITEMS = [{'id': 'r-1', 'title': 'Restart one'}, {'id': 'r-2', 'title': 'Restart two'}]


class RestartTest(VigilTestCase):

    plugin_dirs = [vigiltest.PLUGIN_DIR, vigiltest.INTEGRATION_DIR]

    def config(self, sink, items=ITEMS, **defaults):
        self.server.write_items('feed.jsonl', items)
        config = {
            'defaults': {'interval': '1h', 'startup_spread': '1s', **defaults},
            'sources': [self.jsonl_source('feed', self.server.file_url('feed.jsonl'),
                                          alert_on_first_poll=True)],
            'sinks': [sink],
        }
        self.write_config(config)

    def hang_config(self, items=ITEMS, **defaults):
        self.config({'name': 'out', 'plugin': 'fixture-hang-sink'}, items, **defaults)

    def log_config(self, items=ITEMS):
        self.config(self.log_sink('out', 'alerts.jsonl'), items)

    def start_hanging(self, n_alerts=len(ITEMS), **defaults):
        """vigild with the hang sink, once it holds n_alerts deliveries."""
        self.hang_config(**defaults)
        d = self.start_daemon(plugin_dirs=self.plugin_dirs)
        d.wait_count(r'debug: out: delivering alert \d+ \(attempt 1\)', n_alerts)
        d.wait_count(r'info: out: holding alert \d+ \(attempt 1, ', n_alerts)
        return d

    def listed(self):
        r = self.list_alerts(plugin_dirs=self.plugin_dirs)
        self.assertOk(r)
        return [l.split('\t') for l in r.stdout.splitlines()]

    def deliver_with_log_sink(self):
        """--once with sink `out` now the log sink; the alerts must come out once each."""
        self.log_config()
        r = self.once(plugin_dirs=self.plugin_dirs)
        self.assertOk(r)
        return r

    def test_sigkill_during_delivery_redelivers_exactly_once(self):
        d = self.start_hanging()
        self.assertEqual(d.kill(), -signal.SIGKILL)

        rows = self.listed()
        self.assertEqual(sorted((r[2], r[3], r[6]) for r in rows),
                         [('out', 'in flight', 'Restart one'), ('out', 'in flight', 'Restart two')])

        r = self.deliver_with_log_sink()
        self.assertRegex(r.stderr, r'2 deliveries were in flight at the last stop; '
                                   r'they will be retried')
        self.assertEqual(sorted(self.alert_item_ids()), ['r-1', 'r-2'])
        self.assertEqual(self.listed(), [])

        # Another run: nothing is delivered twice, nothing is fetched as new.
        r = self.once(plugin_dirs=self.plugin_dirs)
        self.assertOk(r)
        self.assertEqual(sorted(self.alert_item_ids()), ['r-1', 'r-2'])

    def test_retry_after_sigkill_keeps_the_idempotency_key(self):
        d = self.start_hanging()
        first = {int(m.group(1)): m.group(2) for m in d.matches(
            r'holding alert (\d+) \(attempt 1, idempotency key (\S+)\)')}
        d.kill()

        # The same sink again: each alert comes back as attempt 2 with the same key.
        again = self.start_daemon(plugin_dirs=self.plugin_dirs)
        found = again.wait_count(r'holding alert (\d+) \(attempt 2, idempotency key (\S+)\)', 2)
        self.assertEqual({int(m.group(1)): m.group(2) for m in found}, first)
        self.assertEqual(len(set(first.values())), 2, 'each alert has its own key')
        again.kill()

    def test_alerts_survive_a_restart_with_the_sink_down(self):
        # The sink fails (a log on /dev/full: ENOSPC); the alerts wait in the outbox
        # across the restart and go out with the retry once the sink works.
        self.config(self.log_sink('out', '/dev/full'))
        r = self.once(plugin_dirs=self.plugin_dirs)
        self.assertOk(r)
        self.assertEqual(len(r.stderr.split('attempt 1 failed')), 3, r)
        self.assertEqual(sorted((r[3], r[4]) for r in self.listed()),
                         [('pending', 'attempts=1')] * 2)

        self.log_config()
        d = self.start_daemon(plugin_dirs=self.plugin_dirs)
        # The first retry is due 10 s (+/-20 %) after the failed attempt.
        d.wait_count(r'debug: out: alert \d+ delivered', 2, timeout=vigiltest.WAIT + 15)
        self.assertEqual(len(d.matches(r'debug: out: delivering alert \d+ \(attempt 2\)')), 2)
        self.assertEqual(d.stop(), 0)
        self.assertEqual(sorted(self.alert_item_ids()), ['r-1', 'r-2'])
        self.assertEqual(self.listed(), [])

    def test_sigterm_with_a_hung_sink_keeps_the_alerts(self):
        # Graceful stop: the hung deliveries are given up at shutdown_timeout, not lost.
        d = self.start_hanging(shutdown_timeout='1s')
        self.assertEqual(d.stop(), 0)
        log = d.log()
        self.assertRegex(log, r'shutdown deadline reached: 2 deliveries')
        self.assertRegex(log, r'info: stopped\n$')
        rows = self.listed()
        self.assertEqual(sorted((r[2], r[3]) for r in rows), [('out', 'pending')] * 2)

        self.deliver_with_log_sink()
        self.assertEqual(sorted(self.alert_item_ids()), ['r-1', 'r-2'])
        self.assertEqual(self.listed(), [])

    def test_second_sigterm_stops_at_once(self):
        d = self.start_hanging(shutdown_timeout='1m')
        d.signal(signal.SIGTERM)
        d.wait_log(r'info: SIGTERM: finishing polls and deliveries in progress')
        d.signal(signal.SIGTERM)
        # Well before the one-minute shutdown timeout.
        self.assertEqual(d.wait(timeout=vigiltest.WAIT), 0)
        self.assertRegex(d.log(), r'warning: SIGTERM again: stopping now')
        self.assertEqual(sorted((r[2], r[3]) for r in self.listed()), [('out', 'pending')] * 2)
        self.deliver_with_log_sink()
        self.assertEqual(sorted(self.alert_item_ids()), ['r-1', 'r-2'])

    def test_once_gives_up_on_a_hung_sink_and_keeps_the_alerts(self):
        self.hang_config(shutdown_timeout='1s')
        r = self.once(plugin_dirs=self.plugin_dirs)
        self.assertExit(r, 1)
        self.assertRegex(r.stderr, r'--once: gave up waiting for 2 deliveries; they stay in the '
                                   r'outbox')
        self.assertEqual(sorted((r[2], r[3]) for r in self.listed()), [('out', 'pending')] * 2)
        self.deliver_with_log_sink()
        self.assertEqual(sorted(self.alert_item_ids()), ['r-1', 'r-2'])

    def test_reload_replacing_a_hung_sink_hands_its_deliveries_over(self):
        d = self.start_hanging()
        self.log_config()
        d.signal(signal.SIGHUP)
        d.wait_log(r'info: reloaded: 1 sources, 1 sinks')
        d.wait_count(r'debug: out: alert \d+ delivered', 2)
        self.assertEqual(len(d.matches(r'debug: out: delivering alert \d+ \(attempt 2\)')), 2)
        self.assertEqual(d.stop(), 0)
        self.assertEqual(sorted(self.alert_item_ids()), ['r-1', 'r-2'])
        self.assertEqual(self.listed(), [])

    def test_sink_that_never_answers_times_out(self):
        d = self.start_hanging(delivery_timeout='1s')
        d.wait_count(r'warning: out: alert \d+: attempt 1 failed \(the sink did not answer '
                     r'in time\); retry in \d+s', 2)
        self.assertEqual(d.stop(), 0)
        rows = self.listed()
        self.assertEqual(len(rows), 2)
        for row in rows:
            self.assertEqual(row[3], 'pending')
            self.assertEqual(row[4], 'attempts=1')
            self.assertIn('the sink did not answer in time', row[7])

    def test_alerts_committed_before_delivery_survive_sigkill(self):
        # The daemon dies right after the poll (the sink holds everything): the seen
        # marks and the alerts were committed together, so the restart neither loses
        # the alerts nor raises them a second time.
        d = self.start_hanging()
        d.kill()
        self.deliver_with_log_sink()
        self.server.write_items('feed.jsonl', ITEMS + [{'id': 'r-3', 'title': 'Restart three'}])
        r = self.once(plugin_dirs=self.plugin_dirs)
        self.assertOk(r)
        self.assertEqual(sorted(self.alert_item_ids()), ['r-1', 'r-2', 'r-3'])
        ids = [a['id'] for a in self.alerts()]
        self.assertEqual(len(set(ids)), 3)


if __name__ == '__main__':
    vigiltest.main()
