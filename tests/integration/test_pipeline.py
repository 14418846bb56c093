#!/usr/bin/env python3
"""From a JSON Lines document over HTTP to alert lines in a file: alerts, dedupe, baseline, keys."""

import re

import vigiltest
from vigiltest import VigilTestCase

ITEMS = [
    {'id': 'n-1', 'title': 'First story', 'link': 'https://news.example/1',
     'published': '2026-01-02T03:04:05Z'},
    {'id': 'n-2', 'title': 'Second story', 'link': 'https://news.example/2',
     'published': '2026-01-03T10:00:00+02:00'},
    {'id': 'n-3', 'title': 'Third story', 'link': 'https://news.example/3',
     'published': 1767225600},
]


class PipelineTest(VigilTestCase):

    def config(self, *sources, sink_path='alerts.jsonl'):
        self.write_config({
            'sources': list(sources),
            'sinks': [self.log_sink(path=sink_path)],
        })

    def feed_source(self, name='news', doc='news.jsonl', **extra):
        return self.jsonl_source(name, self.server.file_url(doc), **extra)

    def test_first_poll_alerts_then_dedupe_across_restarts(self):
        self.server.write_items('news.jsonl', ITEMS)
        self.config(self.feed_source(alert_on_first_poll=True))

        r = self.once()
        self.assertOk(r)
        alerts = self.alerts()
        self.assertEqual([a['item']['id'] for a in alerts], ['n-1', 'n-2', 'n-3'])
        for a, item in zip(alerts, ITEMS):
            self.assertEqual(a['version'], 1)
            self.assertIsInstance(a['id'], int)
            self.assertEqual(a['rule'], 'every item')  # vigiltest's catch-all rule
            self.assertIn(a['severity'], ('low', 'normal', 'high', 'critical'))
            self.assertEqual(a['source'], 'news')
            self.assertRegex(a['created'], r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$')
            self.assertEqual(a['item']['id'], item['id'])
            self.assertEqual(a['item']['title'], item['title'])
            self.assertEqual(a['item']['link'], item['link'])
        self.assertEqual(len({a['id'] for a in alerts}), 3, 'alert ids must be unique')
        # Dates come out in UTC, whatever form they came in.
        self.assertEqual([a['item']['published'] for a in alerts],
                         ['2026-01-02T03:04:05Z', '2026-01-03T08:00:00Z',
                          '2026-01-01T00:00:00Z'])
        self.assertEqual(self.server.hit_count('/files/news.jsonl'), 1)

        # A second run: the server answers 304 to the stored validators, no new alerts.
        r = self.once('-v')
        self.assertOk(r)
        self.assertEqual(len(self.alerts()), 3)
        self.assertEqual(self.server.hit_count('/files/news.jsonl'), 2)
        self.assertRegex(r.stderr, r'/files/news\.jsonl -> 304')
        self.assertRegex(r.stderr, r'news: poll ok in \d+ ms: 0 items, 0 new, 0 alerts')

        # One more item: exactly that one alert.
        new = {'id': 'n-4', 'title': 'Fourth story', 'link': 'https://news.example/4'}
        self.server.write_items('news.jsonl', ITEMS + [new])
        r = self.once()
        self.assertOk(r)
        self.assertEqual(self.alert_item_ids(), ['n-1', 'n-2', 'n-3', 'n-4'])
        self.assertRegex(r.stderr, r'news: poll ok in \d+ ms: 4 items, 1 new, 1 alerts')
        fourth = self.alerts()[3]
        self.assertEqual(fourth['item']['title'], 'Fourth story')
        self.assertNotIn('published', fourth['item'])   # absent members are left out

        # Nothing changed: nothing more, and nothing is left in the outbox.
        self.assertOk(self.once())
        self.assertEqual(len(self.alerts()), 4)
        listed = self.list_alerts()
        self.assertOk(listed)
        self.assertEqual(listed.stdout, '')

    def test_silent_baseline(self):
        self.server.write_items('news.jsonl', ITEMS)
        self.config(self.feed_source())
        r = self.once()
        self.assertOk(r)
        self.assertEqual(self.alerts(), [])
        self.assertIn('3 items recorded as the baseline', r.stderr)

        new = {'id': 'n-9', 'title': 'Later story'}
        self.server.write_items('news.jsonl', [new] + ITEMS)
        self.assertOk(self.once())
        self.assertEqual(self.alert_item_ids(), ['n-9'])

    def test_baseline_is_per_source(self):
        # An established source alerts; a source added later starts with a silent baseline.
        self.server.write_items('a.jsonl', [{'id': 'a-1', 'title': 'a one'}])
        self.server.write_items('b.jsonl', [{'id': 'b-1', 'title': 'b one'}])
        self.config(self.feed_source('a', 'a.jsonl'))
        self.assertOk(self.once())
        self.assertEqual(self.alerts(), [])

        self.server.write_items('a.jsonl', [{'id': 'a-1', 'title': 'a one'},
                                            {'id': 'a-2', 'title': 'a two'}])
        self.config(self.feed_source('a', 'a.jsonl'), self.feed_source('b', 'b.jsonl'))
        r = self.once()
        self.assertOk(r)
        self.assertEqual(self.alert_item_ids(), ['a-2'])
        self.assertIn('b: first poll: 1 items recorded as the baseline', r.stderr)

        self.server.write_items('b.jsonl', [{'id': 'b-1', 'title': 'b one'},
                                            {'id': 'b-2', 'title': 'b two'}])
        self.assertOk(self.once())
        self.assertEqual(self.alert_item_ids(), ['a-2', 'b-2'])

    def test_new_source_on_a_known_url_gets_the_document(self):
        # HTTP validators belong to the source that stored them: a second source
        # on the same URL must not get a 304 for a document it has never seen.
        self.server.write_items('news.jsonl', ITEMS[:2])
        self.config(self.feed_source('a', alert_on_first_poll=True))
        self.assertOk(self.once())
        self.assertEqual(self.alert_item_ids(), ['n-1', 'n-2'])

        self.config(self.feed_source('a', alert_on_first_poll=True),
                    self.feed_source('b', alert_on_first_poll=True))
        r = self.once()
        self.assertOk(r)
        self.assertRegex(r.stderr, r'b: poll ok in \d+ ms: 2 items, 2 new, 2 alerts')
        self.assertEqual([(a['source'], a['item']['id']) for a in self.alerts()[2:]],
                         [('b', 'n-1'), ('b', 'n-2')])

    def test_renamed_source_baseline_then_only_new_items(self):
        # Renaming a source starts a new silent baseline. It must record the
        # document's current items, so that later only really new ones alert.
        self.server.write_items('news.jsonl', ITEMS)
        self.config(self.feed_source('news'))
        self.assertOk(self.once())

        self.config(self.feed_source('world-news'))
        r = self.once()
        self.assertOk(r)
        self.assertIn('world-news: first poll: 3 items recorded as the baseline', r.stderr)

        self.server.write_items('news.jsonl', ITEMS + [{'id': 'n-4', 'title': 'Fourth'}])
        self.assertOk(self.once())
        self.assertEqual([(a['source'], a['item']['id']) for a in self.alerts()],
                         [('world-news', 'n-4')])

    def test_dedupe_within_one_poll(self):
        self.server.write_items('dup.jsonl', [
            {'id': 'same', 'title': 'first copy'},
            {'id': 'other', 'title': 'another'},
            {'id': 'same', 'title': 'second copy'},
        ])
        self.config(self.feed_source('dup', 'dup.jsonl', alert_on_first_poll=True))
        r = self.once()
        self.assertOk(r)
        alerts = self.alerts()
        self.assertEqual([a['item']['id'] for a in alerts], ['same', 'other'])
        self.assertEqual(alerts[0]['item']['title'], 'first copy')
        self.assertRegex(r.stderr, r'dup: poll ok in \d+ ms: 3 items, 2 new, 2 alerts')

    def test_same_id_new_title_is_not_new(self):
        self.server.write_items('n.jsonl', [{'id': 'x', 'title': 'draft headline'}])
        self.config(self.feed_source('n', 'n.jsonl', alert_on_first_poll=True))
        self.assertOk(self.once())
        self.server.write_items('n.jsonl', [{'id': 'x', 'title': 'corrected headline',
                                             'link': 'https://news.example/x'}])
        r = self.once()
        self.assertOk(r)
        self.assertEqual(self.alert_item_ids(), ['x'])
        self.assertRegex(r.stderr, r'n: poll ok in \d+ ms: 1 items, 0 new, 0 alerts')

    def test_key_falls_back_to_link(self):
        first = [
            {'title': 'Same title', 'link': 'https://news.example/a'},
            {'title': 'Same title', 'link': 'https://news.example/b'},
            # Same link as the first: the same story whatever its title.
            {'title': 'Other title', 'link': 'https://news.example/a'},
        ]
        self.server.write_items('l.jsonl', first)
        self.config(self.feed_source('l', 'l.jsonl', alert_on_first_poll=True))
        self.assertOk(self.once())
        self.assertEqual([a['item']['link'] for a in self.alerts()],
                         ['https://news.example/a', 'https://news.example/b'])

        # The same items again (reordered, so the document changes and is parsed
        # again): nothing new. A new link is.
        again = [first[1], first[0], {'title': 'Same title', 'link': 'https://news.example/c'}]
        self.server.write_items('l.jsonl', again)
        r = self.once()
        self.assertOk(r)
        self.assertRegex(r.stderr, r'l: poll ok in \d+ ms: 3 items, 1 new, 1 alerts')
        self.assertEqual([a['item']['link'] for a in self.alerts()],
                         ['https://news.example/a', 'https://news.example/b',
                          'https://news.example/c'])

    def test_key_falls_back_to_title_and_date(self):
        items = [
            {'title': 'Quake', 'published': '2026-03-01T00:00:00Z'},
            {'title': 'Flood', 'published': '2026-03-01T00:00:00Z'},
            {'title': 'Quake', 'published': '2026-03-02T00:00:00Z'},
            {'title': 'Quake', 'published': '2026-03-01T00:00:00Z', 'summary': 'repeat'},
        ]
        self.server.write_items('t.jsonl', items)
        self.config(self.feed_source('t', 't.jsonl', alert_on_first_poll=True))
        r = self.once()
        self.assertOk(r)
        self.assertRegex(r.stderr, r't: poll ok in \d+ ms: 4 items, 3 new, 3 alerts')
        self.assertEqual([(a['item']['title'], a['item']['published']) for a in self.alerts()],
                         [('Quake', '2026-03-01T00:00:00Z'), ('Flood', '2026-03-01T00:00:00Z'),
                          ('Quake', '2026-03-02T00:00:00Z')])

        # Identical items in another order: none is new.
        self.server.write_items('t.jsonl', list(reversed(items)))
        r = self.once()
        self.assertOk(r)
        self.assertRegex(r.stderr, r't: poll ok in \d+ ms: 4 items, 0 new, 0 alerts')
        self.assertEqual(len(self.alerts()), 3)

    def test_items_of_a_partly_bad_document_are_kept(self):
        self.server.write('bad.jsonl', '{"id": "ok-1", "title": "fine"}\n'
                                       'this is not json\n'
                                       '{"id": "ok-2", "title": "fine too"}\n')
        self.config(self.feed_source('bad', 'bad.jsonl', alert_on_first_poll=True))
        r = self.once()
        self.assertExit(r, 1)
        self.assertRegex(r.stderr, r'source bad failed: 1 of 3 lines are not valid JSON '
                                   r'\(first: line 2')
        self.assertEqual(self.alert_item_ids(), ['ok-1', 'ok-2'])

        # The validators were not stored (the poll failed): the next run fetches the
        # whole document again instead of a 304, and records nothing twice.
        r = self.once('-v')
        self.assertExit(r, 1)
        self.assertRegex(r.stderr, r'/files/bad\.jsonl -> 200')
        self.assertNotRegex(r.stderr, r'http: conditional .*/files/bad\.jsonl')
        self.assertEqual(self.server.hit_count('/files/bad.jsonl'), 2)
        self.assertEqual(self.alert_item_ids(), ['ok-1', 'ok-2'])

    def test_max_items(self):
        self.server.write_items('news.jsonl', ITEMS)
        self.config(self.feed_source(alert_on_first_poll=True, max_items=2))
        r = self.once()
        self.assertOk(r)
        self.assertEqual(self.alert_item_ids(), ['n-1', 'n-2'])
        self.assertRegex(r.stderr, r'news: poll ok in \d+ ms: 2 items, 2 new, 2 alerts')

    def test_local_file_source(self):
        # `path:` reads a file next to the configuration (file:// of its own path).
        self.write_file('local.jsonl', '{"id": "f-1", "title": "from a file"}\n')
        self.write_config({
            'sources': [{'name': 'local', 'plugin': 'jsonl', 'path': 'local.jsonl',
                         'alert_on_first_poll': True}],
            'sinks': [self.log_sink()],
        })
        self.assertOk(self.once())
        self.assertEqual(self.alert_item_ids(), ['f-1'])
        self.assertEqual(self.alerts()[0]['source'], 'local')

    def test_source_behind_a_proxy(self):
        # `proxy:` sends the source's requests through an HTTP proxy (the fixture
        # server answers absolute-form requests as a proxy would); without it
        # the made-up host would not resolve.
        self.server.write_items('news.jsonl', ITEMS[:1])
        self.write_config({
            'sources': [self.jsonl_source('news', 'http://news.invalid/files/news.jsonl',
                                          proxy=self.server.url('/').rstrip('/'),
                                          alert_on_first_poll=True)],
            'sinks': [self.log_sink()],
        })
        self.assertOk(self.once())
        self.assertEqual(self.alert_item_ids(), ['n-1'])
        self.assertEqual(self.server.hit_count('/files/news.jsonl'), 1)

    def test_two_sinks_each_get_every_alert(self):
        self.server.write_items('news.jsonl', ITEMS[:2])
        self.write_config({
            'sources': [self.feed_source(alert_on_first_poll=True)],
            'sinks': [self.log_sink('one', 'one.jsonl'), self.log_sink('two', 'two.jsonl')],
        })
        self.assertOk(self.once())
        one, two = self.alerts('one.jsonl'), self.alerts('two.jsonl')
        self.assertEqual([a['item']['id'] for a in one], ['n-1', 'n-2'])
        self.assertEqual(one, two)

    def test_stdout_sink(self):
        self.server.write_items('news.jsonl', ITEMS[:1])
        self.write_config({
            'sources': [self.feed_source(alert_on_first_poll=True)],
            'sinks': [{'name': 'stdout', 'plugin': 'log'}],
        })
        r = self.once()
        self.assertOk(r)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 1, r)
        self.assertTrue(re.match(r'^\{"version":1,', lines[0]), lines[0])


if __name__ == '__main__':
    vigiltest.main()
