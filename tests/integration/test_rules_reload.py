#!/usr/bin/env python3
"""Rules reload live: an edit under rules.d/ is picked up (inotify), an invalid one is refused whole."""

import os
import signal
import unittest

from vigiltest import VigilTestCase

R2_RULE = '''\
rules:
  - name: R2 release
    cooldown: 0
    match:
      all: [DeepSeek, R2]
'''

EXPORT_RULE = '''\
rules:
  - name: export license
    cooldown: 0
    match: ["export licen*", تراخيص التصدير, 出口许可]
'''


class RulesReloadTest(VigilTestCase):

    def setUp(self):
        super().setUp()
        # Not the catch-all: these tests are about which rules are in force.
        os.unlink(self.path('rules.d', 'every-item.yaml'))
        self.write_file('rules.d/r2.yaml', R2_RULE)
        self.write_config({
            'defaults': {'interval': '1s', 'startup_spread': '1s'},
            'sources': [self.jsonl_source('news', self.server.file_url('news.jsonl'))],
            'sinks': [self.log_sink()],
        })
        self.server.write_items('news.jsonl', [{'id': 'base', 'title': 'baseline'}])

    def add_item(self, items, id, title):
        items.append({'id': id, 'title': title})
        self.server.write_items('news.jsonl', items)

    def rules_fired(self):
        return [(a['rule'], a['item']['id']) for a in self.alerts()]

    def test_edit_is_picked_up_and_invalid_edit_refused(self):
        items = [{'id': 'base', 'title': 'baseline'}]
        d = self.start_daemon()
        d.wait_log(r'news: first poll: 1 items recorded as the baseline')

        self.add_item(items, 'r2', 'DeepSeek ships R2')
        d.wait_log(r'news: poll ok .* 1 new, 1 alerts')

        # A new file with a second rule: reloaded without a signal.
        self.write_file('rules.d/export.yaml', EXPORT_RULE)
        d.wait_log(r'info: rules reloaded from .*rules\.d: 2 rules')
        self.add_item(items, 'ar', 'الولايات المتحدة تمنح تراخيص التصدير لشرائح H20')
        d.wait_log(r'news: poll ok .* 1 new, 1 alerts')

        # An invalid edit: refused with its position, the two rules stay.
        self.write_file('rules.d/export.yaml', EXPORT_RULE.replace('match:', 'mtach:'))
        d.wait_log(r'export\.yaml:4:5: error: .*mtach.*did you mean .*match')
        d.wait_log(r'rules reload refused: 2 errors above; the running rules stay in force')
        self.add_item(items, 'zh', '美国批准英伟达出口许可')
        d.wait_log(r'news: poll ok .* 1 new, 1 alerts')

        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(), 0)
        self.assertEqual(self.rules_fired(), [('R2 release', 'r2'), ('export license', 'ar'),
                                              ('export license', 'zh')])

    def test_sighup_with_invalid_rules_keeps_running(self):
        d = self.start_daemon()
        d.wait_log(r'news: first poll: 1 items recorded as the baseline')
        self.write_file('rules.d/r2.yaml', R2_RULE.replace('[DeepSeek, R2]', '["@nosuch", R2]'))
        d.wait_log(r'rules reload refused')
        d.signal(signal.SIGHUP)
        d.wait_log(r'r2\.yaml:5:13: error: unknown alias')
        d.wait_log(r'reload refused: the configuration above has 1 error')
        items = [{'id': 'base', 'title': 'baseline'}]
        self.add_item(items, 'r2', 'DeepSeek R2 is out')
        d.wait_log(r'news: poll ok .* 1 new, 1 alerts')
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(), 0)
        self.assertEqual(self.rules_fired(), [('R2 release', 'r2')])


if __name__ == '__main__':
    unittest.main(verbosity=2)
