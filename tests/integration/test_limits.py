#!/usr/bin/env python3
"""HTTP limits and refusals: each makes `vigild --once` exit 1 naming the source and the reason."""

import re
import time

import vigiltest
from vigiltest import VigilTestCase


class LimitsTest(VigilTestCase):

    def run_source(self, url, defaults=None, **extra):
        """--once with one jsonl source `lim` at url; returns the result."""
        config = {
            'sources': [self.jsonl_source('lim', url, alert_on_first_poll=True, **extra)],
            'sinks': [self.log_sink()],
        }
        if defaults:
            config['defaults'] = defaults
        self.write_config(config)
        return self.once()

    def assertSourceFailed(self, r, pattern):
        """Exit 1 and the final report `vigild: source lim failed: ...` matching pattern."""
        self.assertExit(r, 1)
        m = re.search(r'^vigild: source lim failed: (.*)$', r.stderr, re.M)
        self.assertIsNotNone(m, 'no failure report for source lim: %r' % r)
        self.assertRegex(m.group(1), pattern)
        self.assertEqual(self.alerts(), [])
        return m.group(1)

    def test_max_body_per_source(self):
        r = self.run_source(self.server.url('/big/5000'), max_body='1k')
        self.assertSourceFailed(r, r'body larger than 1024 bytes')

    def test_max_body_default_section(self):
        r = self.run_source(self.server.url('/big/5000'), defaults={'max_body': '2k'})
        self.assertSourceFailed(r, r'body larger than 2048 bytes')

    def test_body_within_max_body_passes(self):
        # The same limit lets a small enough document through.
        self.server.write_items('small.jsonl', [{'id': 's', 'title': 'small'}])
        r = self.run_source(self.server.file_url('small.jsonl'), max_body='1k')
        self.assertOk(r)
        self.assertEqual(self.alert_item_ids(), ['s'])

    def test_gzip_bomb_is_cut_at_the_default_limit(self):
        started = time.monotonic()
        r = self.run_source(self.server.url('/gzip-bomb/100000000'))
        # The default limit is 16 MiB of *inflated* bytes.
        self.assertSourceFailed(r, r'body larger than %d bytes' % (16 << 20))
        self.assertLess(time.monotonic() - started, vigiltest.RUN_TIMEOUT)

    def test_gzip_document_is_decoded(self):
        self.server.write_items('z.jsonl', [{'id': 'z-1', 'title': 'zipped'}])
        r = self.run_source(self.server.url('/gzip/z.jsonl'))
        self.assertOk(r)
        self.assertEqual(self.alert_item_ids(), ['z-1'])

    def test_timeout(self):
        self.server.write_items('x', [{'id': 'late'}])
        started = time.monotonic()
        r = self.run_source(self.server.url('/delay/5000/x'), timeout='1s')
        elapsed = time.monotonic() - started
        self.assertSourceFailed(r, r'timed out after 1000 ms')
        self.assertLess(elapsed, 4.5, 'the 1 s timeout did not cut the 5 s answer')

    def test_too_slow(self):
        started = time.monotonic()
        r = self.run_source(self.server.url('/slow/50/100000'),
                            defaults={'low_speed_bytes': 1000, 'low_speed_time': '1s'})
        self.assertSourceFailed(r, r'transfer too slow \(below 1000 bytes/s for 1000 ms\)')
        self.assertLess(time.monotonic() - started, 10)

    def test_redirects_followed_up_to_the_limit(self):
        self.server.write_items('r.jsonl', [{'id': 'r-1', 'title': 'redirected'}])
        r = self.run_source(self.server.url('/redirect/3/r.jsonl'))
        self.assertOk(r)
        self.assertEqual(self.alert_item_ids(), ['r-1'])

    def test_too_many_redirects(self):
        self.server.write_items('r.jsonl', [{'id': 'r-1', 'title': 'redirected'}])
        r = self.run_source(self.server.url('/redirect/3/r.jsonl'),
                            defaults={'max_redirects': 2})
        self.assertSourceFailed(r, r'too many redirects \(more than 2\)')

    def test_redirect_loop(self):
        r = self.run_source(self.server.url('/loop'))
        self.assertSourceFailed(r, r'too many redirects \(more than 5\)')
        # It stopped after the limit: 1 request + 5 redirects.
        self.assertLessEqual(self.server.hit_count('/loop'), 6)

    def test_redirect_to_file_url_is_refused(self):
        r = self.run_source(self.server.url('/redirect-to?url=file:///etc/passwd'))
        self.assertSourceFailed(r, r'redirect to a forbidden URL')
        self.assertNotIn('root:', self.read_file('alerts.jsonl', ''))

    def test_redirect_to_own_file_path_is_refused(self):
        # Even the source's own local file is not a redirect target.
        self.write_file('own.jsonl', '{"id": "own", "title": "local"}\n')
        own = 'file://' + self.path('own.jsonl')
        r = self.run_source(self.server.url('/redirect-to?url=' + own))
        self.assertSourceFailed(r, r'redirect to a forbidden URL')

    def test_redirect_to_other_scheme_is_refused(self):
        r = self.run_source(self.server.url('/redirect-to?url=ftp://127.0.0.1/x'))
        self.assertSourceFailed(r, r'redirect to a forbidden URL')

    def test_own_file_url_is_allowed(self):
        # A file:// URL that is the source's own `url` is fetched.
        self.write_file('own.jsonl', '{"id": "own", "title": "local"}\n')
        r = self.run_source('file://' + self.path('own.jsonl'))
        self.assertOk(r)
        self.assertEqual(self.alert_item_ids(), ['own'])

    def test_other_scheme_url_is_refused(self):
        r = self.run_source('ftp://127.0.0.1/feed.jsonl')
        self.assertSourceFailed(r, r'refused|not allowed')
        self.assertIn('URL scheme not allowed', r.stderr)

    def test_http_500(self):
        r = self.run_source(self.server.url('/status/500'))
        self.assertSourceFailed(r, r'HTTP 500 from ' + re.escape(self.server.url('/status/500')))

    def test_http_404(self):
        r = self.run_source(self.server.file_url('missing.jsonl'))
        self.assertSourceFailed(r, r'HTTP 404')

    def test_http_429_reports_retry_after(self):
        r = self.run_source(self.server.url('/status/429?retry_after=120'))
        self.assertSourceFailed(r, r'HTTP 429 .*\(retry after 120 s\)')

    def test_connection_refused(self):
        # A port nothing listens on: the fixture server's, once it is stopped.
        url = self.server.file_url('x.jsonl')
        self.server.stop()
        r = self.run_source(url)
        self.assertSourceFailed(r, r'could not connect')

    def test_one_failing_source_does_not_stop_the_others(self):
        self.server.write_items('good.jsonl', [{'id': 'g', 'title': 'good'}])
        self.write_config({
            'sources': [
                self.jsonl_source('bad', self.server.url('/status/500'), alert_on_first_poll=True),
                self.jsonl_source('good', self.server.file_url('good.jsonl'),
                                  alert_on_first_poll=True),
            ],
            'sinks': [self.log_sink()],
        })
        r = self.once()
        self.assertExit(r, 1)
        self.assertRegex(r.stderr, r'vigild: source bad failed: HTTP 500')
        self.assertNotRegex(r.stderr, r'vigild: source good failed')
        self.assertEqual(self.alert_item_ids(), ['g'])


if __name__ == '__main__':
    vigiltest.main()
