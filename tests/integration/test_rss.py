#!/usr/bin/env python3
"""The rss source in the real vigild: feeds over HTTP to alerts, 304s, hostile documents, 403."""

import json
import unittest

from vigiltest import VigilTestCase

RSS = '''<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Chip wire</title><link>https://wire.example/</link>
<item><title>DeepSeek &lt;b&gt;R2&lt;/b&gt; ships</title><link>/r2</link><guid isPermaLink="false">w-1</guid>
<pubDate>Sun, 29 Nov 2026 08:00:00 GMT</pubDate><category>AI</category>
<description>&lt;p&gt;The model is out.&lt;script&gt;evil()&lt;/script&gt;&lt;/p&gt;</description></item>
<item><title>Export licences granted</title><link>https://wire.example/h20</link><guid>w-2</guid></item>
</channel></rss>
'''

ATOM = '''<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom wire</title><id>urn:a</id>
<updated>2026-11-29T09:00:00Z</updated>
<entry><title>深度求索R2发布</title><id>urn:a:1</id><updated>2026-11-29T09:00:00+08:00</updated>
<link rel="alternate" href="https://atom.example/1"/></entry>
</feed>
'''

BOMB = '''<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>
<rss version="2.0"><channel><title>&lol9;</title><item><title>&lol9;</title></item></channel></rss>
'''

XXE = '''<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>t</title><item><title>&xxe;</title><guid>x</guid></item></channel></rss>
'''


class RssTest(VigilTestCase):

    def rss_source(self, name, doc, **extra):
        d = {'name': name, 'plugin': 'rss', 'url': self.server.url('/files/' + doc),
             'alert_on_first_poll': True}
        d.update(extra)
        return d

    def test_feeds_to_alerts_then_304(self):
        self.server.write('wire.xml', RSS)
        self.server.write('atom.xml', ATOM)
        self.write_config({
            'sources': [self.rss_source('wire', 'wire.xml'), self.rss_source('atom', 'atom.xml')],
            'sinks': [self.log_sink()],
        })
        self.assertOk(self.once())
        alerts = {a['item']['id']: a for a in self.alerts()}
        self.assertEqual(sorted(alerts), ['urn:a:1', 'w-1', 'w-2'])
        w1 = alerts['w-1']['item']
        self.assertEqual(w1['title'], 'DeepSeek R2 ships')                 # HTML to text
        # A relative link is resolved against the document's URL (as feedparser does).
        self.assertEqual(w1['link'], self.server.url('/r2'))
        self.assertEqual(w1['published'], '2026-11-29T08:00:00Z')
        self.assertEqual(w1['categories'], ['AI'])
        self.assertNotIn('evil', w1['summary'])                            # scripts dropped
        self.assertEqual(alerts['urn:a:1']['item']['updated'], '2026-11-29T01:00:00Z')
        self.assertEqual(alerts['w-1']['item']['feed_title'], 'Chip wire')
        # Second run: both answer 304, nothing new.
        r = self.once()
        self.assertOk(r)
        self.assertEqual(len(self.alerts()), 3)
        self.assertRegex(r.stderr, r'wire: poll ok in \d+ ms: 0 items')

    def test_hostile_documents_fail_their_source_only(self):
        self.server.write('bomb.xml', BOMB)
        self.server.write('xxe.xml', XXE)
        self.server.write('wire.xml', RSS)
        self.write_config({
            'sources': [self.rss_source('bomb', 'bomb.xml'), self.rss_source('xxe', 'xxe.xml'),
                        self.rss_source('wire', 'wire.xml')],
            'sinks': [self.log_sink()],
        })
        r = self.once()
        self.assertExit(r, 1)
        self.assertRegex(r.stderr, r'source bomb failed: .*refused')
        self.assertIn('root:', open('/etc/passwd').read())
        for a in self.alerts():
            self.assertNotIn('root:', json.dumps(a))
        self.assertIn('w-1', [a['item']['id'] for a in self.alerts()])

    def test_403_says_what_to_do(self):
        self.write_config({
            'sources': [{'name': 'edgar', 'plugin': 'rss', 'url': self.server.url('/status/403')}],
            'sinks': [self.log_sink()],
        })
        r = self.once()
        self.assertExit(r, 1)
        self.assertRegex(r.stderr, r'source edgar failed: HTTP 403 .*user_agent')

    def test_vigilctl_parse(self):
        self.write_file('wire.xml', RSS)
        r = self.vigilctl_run('parse', '--json', self.path('wire.xml'))
        self.assertEqual(r.returncode, 0, r.stderr)
        objs = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertEqual([o['item']['id'] for o in objs], ['w-1', 'w-2'])
        self.assertEqual(objs[0]['format'], 'rss20')
        self.assertEqual(objs[0]['feed_title'], 'Chip wire')

    def vigilctl_run(self, *args):
        import os
        import subprocess
        import vigiltest
        exe = os.environ.get('VIGILCTL') or os.path.join(vigiltest.BUILD_DIR, 'cli', 'vigilctl')
        r = subprocess.run([exe, *args], capture_output=True, text=True, timeout=60,
                           env=self.env())
        self.check_sanitizers(r.stderr)
        return r


if __name__ == '__main__':
    unittest.main(verbosity=2)
