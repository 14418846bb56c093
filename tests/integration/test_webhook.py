#!/usr/bin/env python3
"""The webhook sink in the real vigild against a real receiver: signatures, formats, retries, dead letters, crashes, secrets."""

import base64
import hashlib
import hmac
import json
import re
import signal

import vigiltest
from vigiltest import VigilTestCase, WebhookReceiver

TOKEN = 'tok-9f8e7d6c5b4a39281706'
SECRET = 'whsec_' + base64.b64encode(b'integration-test-signing-key!!').decode()
ITEMS = [
    {'id': 'w-1', 'title': 'Export "rules" </script> {{rule}} & <b>', 'link': 'https://news.example/1',
     'summary': 'line one\nline two'},
    {'id': 'w-2', 'title': 'Second story', 'link': 'https://news.example/2'},
]


def signature(secret, msg_id, timestamp, body):
    """Standard Webhooks v1 signature, computed here independently of the receiver."""
    key = base64.b64decode(secret[len('whsec_'):])
    mac = hmac.new(key, ('%s.%s.' % (msg_id, timestamp)).encode() + body.encode(), hashlib.sha256)
    return 'v1,' + base64.b64encode(mac.digest()).decode()


class WebhookTest(VigilTestCase):

    def receiver(self, **kw):
        rx = WebhookReceiver(self.path('receiver-%d.log' % len(getattr(self, '_rxs', []))),
                             secret=SECRET, **kw)
        self._rxs = getattr(self, '_rxs', []) + [rx]
        self.addCleanup(self._stop_receiver, rx)
        return rx

    def _stop_receiver(self, rx):
        rx.stop()
        report = vigiltest.sanitizer_report(rx.log())
        if report:
            self.fail('webhook-receiver stderr has a sanitizer report (%s):\n%s'
                      % (report, rx.log()))

    def sink(self, rx, name='hook', path='/hook/', **extra):
        """A webhook sink whose URL (with a token) and secret come from files."""
        self.write_file('%s.url' % name, rx.url(path + TOKEN) + '\n')
        self.write_file('%s.secret' % name, SECRET + '\n')
        d = {'name': name, 'plugin': 'webhook', 'url_file': '%s.url' % name,
             'secret_file': '%s.secret' % name}
        d.update(extra)
        return d

    def config(self, *sinks, items=ITEMS, **defaults):
        self.write_file('items.jsonl', ''.join(json.dumps(i) + '\n' for i in items))
        self.write_config({
            'defaults': {'interval': '1h', 'startup_spread': '1s', **defaults},
            'sources': [self.jsonl_source('feed', 'file://' + self.path('items.jsonl'),
                                          alert_on_first_poll=True)],
            'sinks': list(sinks),
        })

    def assertNoSecrets(self, text, what='vigild stderr'):
        self.assertNotIn(TOKEN, text, '%s shows the URL token' % what)
        self.assertNotIn(SECRET[len('whsec_'):len('whsec_') + 12], text,
                         '%s shows the signing secret' % what)

    def assertSigned(self, delivery):
        h = delivery['headers']
        self.assertEqual(delivery['signature'], 'valid', delivery)
        self.assertTrue(delivery['timestamp_ok'], delivery)
        self.assertRegex(h['webhook-id'], r'^msg_[0-9a-f]{32}$')
        self.assertRegex(h['webhook-timestamp'], r'^\d+$')
        self.assertEqual(h['webhook-signature'],
                         signature(SECRET, h['webhook-id'], h['webhook-timestamp'],
                                   delivery['body']))
        self.assertEqual(h['content-type'], 'application/json')
        self.assertEqual(delivery['method'], 'POST')

    def item_id(self, delivery):
        return json.loads(delivery['body'])['item']['id']

    # ---- tests ----

    def test_signed_delivery_of_the_alert_json(self):
        rx = self.receiver()
        self.config(self.sink(rx))
        r = self.once('-v')
        self.assertOk(r)
        got = rx.deliveries()
        self.assertEqual(sorted(self.item_id(d) for d in got), ['w-1', 'w-2'])
        for d in got:
            self.assertSigned(d)
            self.assertEqual(d['path'], '/hook/' + TOKEN)
            alert = json.loads(d['body'])
            self.assertEqual(alert['version'], 1)
            self.assertEqual(alert['rule'], 'every item')
            self.assertEqual(alert['source'], 'feed')
        self.assertEqual(len({d['headers']['webhook-id'] for d in got}), 2)
        first = [json.loads(d['body']) for d in got if self.item_id(d) == 'w-1'][0]
        self.assertEqual(first['item']['title'], ITEMS[0]['title'])
        self.assertEqual(first['item']['summary'], 'line one\nline two')

        # At debug level the engine names the request by scheme and host only.
        self.assertIn('POST http://127.0.0.1:%d/\u2026 -> 200' % rx.port, r.stderr)
        self.assertRegex(r.stderr, r'debug: hook: alert \d+ delivered')
        self.assertNoSecrets(r.stderr)
        self.assertEqual(self.list_alerts().stdout, '')

    def test_every_format_arrives(self):
        rx = self.receiver()
        self.write_file('tpl.json', '{"text": "{{rule}}: {{item.title}}", "link": "{{item.link}}",'
                                    ' "id": {{id}}}\n')
        self.config(self.sink(rx, 'as-json', '/json/'),
                    self.sink(rx, 'as-slack', '/slack/', format='slack'),
                    self.sink(rx, 'as-discord', '/discord/', format='discord'),
                    self.sink(rx, 'as-ntfy', '/ntfy/', format='ntfy', topic='alerts'),
                    self.sink(rx, 'as-template', '/template/', format='template',
                              template='tpl.json'),
                    items=ITEMS[:1])
        r = self.once('-v')
        self.assertOk(r)
        self.assertNoSecrets(r.stderr)
        by_format = {}
        for d in rx.deliveries():
            self.assertSigned(d)
            self.assertTrue(d['json'], d)
            by_format[d['path'].split('/')[1]] = json.loads(d['body'])
        self.assertEqual(sorted(by_format), ['discord', 'json', 'ntfy', 'slack', 'template'])
        title = ITEMS[0]['title']

        self.assertEqual(by_format['json']['item']['title'], title)

        slack = by_format['slack']
        self.assertIn('Export "rules" &lt;/script&gt; {{rule}} &amp; &lt;b&gt;', slack['text'])
        self.assertEqual([b['type'] for b in slack['blocks']], ['section', 'context'])
        self.assertEqual(slack['blocks'][0]['text']['type'], 'mrkdwn')
        self.assertIn('<https://news.example/1|Export', slack['blocks'][0]['text']['text'])

        discord = by_format['discord']
        embed = discord['embeds'][0]
        self.assertEqual(embed['title'], title)
        self.assertEqual(embed['url'], 'https://news.example/1')
        self.assertEqual(embed['description'], 'line one\nline two')
        self.assertIsInstance(embed['color'], int)
        self.assertRegex(embed['timestamp'], r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$')
        self.assertIn('vigil', embed['footer']['text'])
        self.assertIn({'name': 'Rule', 'value': 'every item', 'inline': True}, embed['fields'])
        self.assertEqual(discord['allowed_mentions'], {'parse': []})
        self.assertLessEqual(len(discord['content']), 2000)

        ntfy = by_format['ntfy']
        self.assertEqual(ntfy['topic'], 'alerts')
        self.assertEqual(ntfy['title'], title)
        self.assertEqual(ntfy['priority'], 3)
        self.assertEqual(ntfy['click'], 'https://news.example/1')
        self.assertIn('vigil', ntfy['tags'])

        self.assertEqual(by_format['template']['text'], 'every item: ' + title)
        self.assertEqual(by_format['template']['link'], 'https://news.example/1')
        self.assertEqual(by_format['template']['id'], by_format['json']['id'])

    def test_retry_after_failures_keeps_the_webhook_id(self):
        rx = self.receiver(fail=1, status=503, retry_after=1)
        self.config(self.sink(rx), items=ITEMS[:1])
        d = self.start_daemon()
        d.wait_log(r'warning: hook: alert \d+: attempt 1 failed \(HTTP 503 Service Unavailable '
                   r'from 127\.0\.0\.1:%d: failing on purpose\); retry in \d+s' % rx.port)
        # The first retry is due 10 s (+/-20 %) after the failed attempt.
        d.wait_log(r'debug: hook: alert \d+ delivered', timeout=vigiltest.WAIT + 15)
        self.assertEqual(d.stop(), 0)
        got = rx.deliveries()
        self.assertEqual([x['status'] for x in got], [503, 200])
        for x in got:
            self.assertSigned(x)
        self.assertEqual(got[0]['headers']['webhook-id'], got[1]['headers']['webhook-id'])
        self.assertEqual(got[0]['body'], got[1]['body'])
        self.assertNoSecrets(d.log())
        self.assertEqual(self.list_alerts().stdout, '')

    def test_retry_after_header_is_honoured(self):
        rx = self.receiver(fail=-1, status=429, retry_after=600)
        self.config(self.sink(rx), items=ITEMS[:1])
        r = self.once()
        self.assertOk(r)
        self.assertRegex(r.stderr, r'attempt 1 failed \(HTTP 429 Too Many Requests from '
                                   r'127\.0\.0\.1:\d+: failing on purpose\); retry in 600s')
        rows = [l.split('\t') for l in self.list_alerts().stdout.splitlines()]
        self.assertEqual([(x[2], x[3], x[4]) for x in rows], [('hook', 'pending', 'attempts=1')])

    def test_dead_letter_after_max_age(self):
        rx = self.receiver(fail=-1, status=500)
        self.config(self.sink(rx), max_age='5s')
        r = self.once('-v')
        self.assertOk(r)
        # The next retry (>= 8 s away) would be past max_age: dead letter at once, logged.
        dead = re.findall(r'error: hook: alert \d+ \(every item\): dead letter: undelivered '
                          r'after 1 attempts; last error: HTTP 500 Internal Server Error from '
                          r'127\.0\.0\.1:\d+', r.stderr)
        self.assertEqual(len(dead), 2, r)
        self.assertNoSecrets(r.stderr)
        self.assertEqual(len(rx.deliveries()), 2)

        failed = self.list_alerts('--failed')
        self.assertOk(failed)
        rows = [l.split('\t') for l in failed.stdout.splitlines()]
        self.assertEqual(sorted((x[2], x[3], x[6]) for x in rows),
                         sorted([('hook', 'failed', 'Second story'),
                                 ('hook', 'failed', ITEMS[0]['title'])]))
        for x in rows:
            self.assertIn('HTTP 500 Internal Server Error', x[7])
        self.assertNoSecrets(failed.stdout, '--list-alerts')
        # Dead letters stay listed, and are never retried.
        self.assertOk(self.once())
        self.assertEqual(len(rx.deliveries()), 2)
        self.assertEqual(len(self.list_alerts('--failed').stdout.splitlines()), 2)

    def test_sigkill_while_in_flight_redelivers_with_the_same_id(self):
        # The receiver holds each request for 30 s: the alerts are committed and
        # their deliveries in flight when vigild dies.
        rx = self.receiver(delay_ms=30000)
        self.config(self.sink(rx))
        d = self.start_daemon()
        first = rx.wait_deliveries(2)
        d.wait_count(r'debug: hook: alert \d+ attempt 1: POST', 2)
        self.assertEqual(d.kill(), -signal.SIGKILL)

        rx.control(delay=0)
        again = self.start_daemon()
        again.wait_count(r'debug: hook: alert \d+ delivered', 2)
        self.assertEqual(again.stop(), 0)

        got = rx.deliveries()
        self.assertEqual(len(got), 4)
        ids = {}
        for x in got:
            self.assertSigned(x)
            ids.setdefault(x['headers']['webhook-id'], []).append(self.item_id(x))
        # Each alert twice (the lost attempt and the redelivery), under one id.
        self.assertEqual(sorted(ids.values()), [['w-1', 'w-1'], ['w-2', 'w-2']])
        self.assertEqual({x['headers']['webhook-id'] for x in first}, set(ids))
        self.assertRegex(again.log(), r'2 deliveries were in flight at the last stop')
        self.assertNoSecrets(d.log())
        self.assertNoSecrets(again.log())
        self.assertEqual(self.list_alerts().stdout, '')

    def test_configuration_errors(self):
        # create() checks them: vigild refuses to start, naming the problem.
        rx = self.receiver()
        self.config(self.sink(rx, format='ntfy'))
        r = self.once()
        self.assertExit(r, 1)
        self.assertIn('hook: format ntfy needs `topic:`', r.stderr)

        self.config({'name': 'hook', 'plugin': 'webhook', 'url': rx.url('/x'),
                     'secret_file': 'missing.secret'})
        r = self.once()
        self.assertExit(r, 1)
        self.assertRegex(r.stderr, r'hook: secret_file \S+missing\.secret: cannot read it')

        self.config({'name': 'hook', 'plugin': 'webhook', 'url': rx.url('/x'), 'format': 'teams'})
        r = self.once()
        self.assertExit(r, 1)
        self.assertIn('format "teams" is not one of json, slack, discord, ntfy, template', r.stderr)
        self.assertEqual(rx.deliveries(), [])

        help_ = self.vigild('--plugin-help', 'webhook', config=False)
        self.assertOk(help_)
        for key in ('url_file', 'url_credential', 'secret_credential', 'headers', 'timeout',
                    'topic', 'template', 'format'):
            self.assertIn(key, help_.stdout)


if __name__ == '__main__':
    vigiltest.main()
