#!/usr/bin/env python3
"""Poll timing of a running vigild: start-up spread, backoff, Retry-After, reset on success."""

import email.utils
import time
import urllib.parse

import vigiltest
from vigiltest import VigilTestCase, log_time, parse_duration_ms

# The scheduler's jitter is +/-10 %; timers may fire a little late on a busy machine.
JITTER = 0.10
LATE_S = 1.5


class ScheduleTest(VigilTestCase):

    def start(self, sources, defaults=None):
        config = {
            'defaults': {'interval': '1s', 'startup_spread': '1s', **(defaults or {})},
            'sources': sources,
            'sinks': [self.log_sink()],
        }
        self.write_config(config)
        return self.start_daemon()

    def next_polls(self, d, name, count):
        """The first `count` "next poll in" delays of source `name`, in ms, with their lines."""
        found = d.wait_count(r'debug: %s: next poll in (\S+)$' % name, count)
        return [(parse_duration_ms(m.group(1)), m) for m in found]

    def assertAbout(self, ms, expected_ms, what):
        lo, hi = expected_ms * (1 - JITTER), expected_ms * (1 + JITTER)
        self.assertTrue(lo - 1 <= ms <= hi + 1, '%s: %d ms, expected %d ms +/-10 %%'
                        % (what, ms, expected_ms))

    def test_backoff_doubles_on_failure(self):
        d = self.start([self.jsonl_source('flaky', self.server.url('/status/500'))])
        first = d.wait_log(r'debug: flaky: first poll in (\S+)$')
        self.assertLessEqual(parse_duration_ms(first.group(1)), 1000)

        delays = self.next_polls(d, 'flaky', 3)
        for (ms, _), want in zip(delays, (1000, 2000, 4000)):
            self.assertAbout(ms, want, 'next poll after a failure')
        failed = d.wait_count(r'warning: flaky: poll failed \((\d+) in a row\): HTTP 500', 3)
        self.assertEqual([int(m.group(1)) for m in failed], [1, 2, 3])
        # The timer keeps to the delay it announced.
        for i in range(2):
            gap = log_time(failed[i + 1]) - log_time(failed[i])
            self.assertGreaterEqual(gap, delays[i][0] / 1000 - 0.05)
            self.assertLess(gap, delays[i][0] / 1000 + LATE_S)
        self.assertGreaterEqual(self.server.hit_count('/status/500'), 3)
        self.assertEqual(d.stop(), 0)

    def test_backoff_is_capped_at_max_backoff(self):
        d = self.start([self.jsonl_source('flaky', self.server.url('/status/500'))],
                       defaults={'max_backoff': '2s'})
        delays = self.next_polls(d, 'flaky', 3)
        for (ms, _), want in zip(delays, (1000, 2000, 2000)):
            self.assertAbout(ms, want, 'next poll with max_backoff 2s')
        self.assertEqual(d.stop(), 0)

    def test_retry_after(self):
        # Retry-After in seconds on 429 and 503, and as an HTTP-date, overrides a
        # shorter interval (and backoff).
        date = email.utils.formatdate(time.time() + 8, usegmt=True)
        d = self.start([
            self.jsonl_source('busy', self.server.url('/status/429?retry_after=3')),
            self.jsonl_source('down', self.server.url('/status/503?retry_after=3')),
            self.jsonl_source('dated', self.server.url(
                '/status/503?retry_after=' + urllib.parse.quote(date))),
        ])
        for name, code in (('busy', 429), ('down', 503)):
            (ms, _), = self.next_polls(d, name, 1)
            self.assertGreaterEqual(ms, 3000, '%s: HTTP %d with Retry-After: 3' % (name, code))
            self.assertLess(ms, 3000 * (1 + JITTER) + 1)
        (ms, _), = self.next_polls(d, 'dated', 1)
        # At most 8 s from now, and the first poll is less than 1 s (plus start-up) away.
        self.assertGreaterEqual(ms, 3000, 'Retry-After: %s' % date)
        self.assertLessEqual(ms, 8000, 'Retry-After: %s' % date)

        # The second poll really waits that long.
        for name in ('busy', 'down'):
            failed = d.wait_count(r'warning: %s: poll failed \(\d+ in a row\): HTTP (429|503)'
                                  % name, 2)
            gap = log_time(failed[1]) - log_time(failed[0])
            self.assertGreaterEqual(gap, 2.95, '%s polled again after %.2f s' % (name, gap))
        self.assertEqual(d.stop(), 0)

    def test_success_resets_backoff(self):
        d = self.start([self.jsonl_source('later', self.server.file_url('later.jsonl'))])
        delays = self.next_polls(d, 'later', 2)
        self.assertAbout(delays[0][0], 1000, 'after the first 404')
        self.assertAbout(delays[1][0], 2000, 'after the second 404')

        # The document appears (before the third poll, 2 s away): success, back to 1 s.
        self.server.write_items('later.jsonl', [{'id': 'l-1', 'title': 'here now'}])
        d.wait_log(r'info: later: poll ok in \d+ ms: 1 items', timeout=vigiltest.WAIT + 10)
        m = d.wait_log(r'debug: later: next poll in (\S+)$')
        self.assertAbout(parse_duration_ms(m.group(1)), 1000, 'after a success')

        # Failing again starts the backoff from the beginning.
        self.server.remove('later.jsonl')
        d.wait_log(r'warning: later: poll failed \(1 in a row\): HTTP 404')
        m = d.wait_log(r'debug: later: next poll in (\S+)$')
        self.assertAbout(parse_duration_ms(m.group(1)), 1000,
                         'after a failure that follows a success')
        self.assertEqual(d.stop(), 0)


if __name__ == '__main__':
    vigiltest.main()
