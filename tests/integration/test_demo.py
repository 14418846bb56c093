#!/usr/bin/env python3
"""The bundled demo (etc/demo, what `make run` starts): exactly the alerts its rules promise."""

import json
import os
import unittest

import vigiltest
from vigiltest import VigilTestCase

DEMO = os.path.join(vigiltest.SOURCE_ROOT, 'etc', 'demo', 'vigil.yaml')
EXAMPLE = os.path.join(vigiltest.SOURCE_ROOT, 'etc', 'vigil.yaml')


class DemoTest(VigilTestCase):

    def test_demo_alerts(self):
        r = self.once(config=DEMO, env={'STATE_DIRECTORY': self.path('demo-state')})
        self.assertOk(r)
        alerts = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
        fired = sorted((a['rule'], a['item']['id']) for a in alerts)
        self.assertEqual(fired, [
            ('R2 release', 'demo-en-1'),         # "DeepSeek releases R2 model"
            ('R2 release', 'demo-zh-1'),         # 深度求索R2发布
            ('export license', 'demo-ar-1'),     # the seed article: تراخيص التصدير, H20
            ('export license', 'demo-en-2'),     # "H20 export licences"
        ])
        # The seed article reports a delay: it must not count as a release; the
        # R2-D2 toy and the soybean export story fire nothing.
        for a in alerts:
            self.assertTrue(a['reason'])
            self.assertTrue(a['reason_terms'])
            for t in a['reason_terms']:
                field = a['item'].get(t['field'], '')
                if isinstance(field, str) and field:
                    # Offsets point at the original text (UTF-8 bytes).
                    self.assertEqual(field.encode()[t['start']:t['end']].decode(), t['text'])
        # A second run: everything seen, nothing new.
        r = self.once(config=DEMO, env={'STATE_DIRECTORY': self.path('demo-state')})
        self.assertOk(r)
        self.assertEqual(r.stdout.strip(), '')

    def test_example_configuration_checks(self):
        # etc/vigil.yaml with etc/rules.d/ (the RULES.md examples): valid; the
        # instances of plugins that have not shipped are optional and left out.
        r = self.check(config=EXAMPLE)
        self.assertOk(r)
        self.assertRegex(r.stdout, r'OK \(\d+ sources, \d+ sinks, 5 rules\)')


if __name__ == '__main__':
    unittest.main(verbosity=2)
