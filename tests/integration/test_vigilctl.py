#!/usr/bin/env python3
"""vigilctl: test (text, --json, --expect), check, and edit (validate, reopen, atomic install, reload)."""

import fcntl
import json
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
import unittest

import vigiltest
from vigiltest import VigilTestCase

VIGILCTL = (os.environ.get('VIGILCTL')
            or os.path.join(vigiltest.BUILD_DIR, 'cli', 'vigilctl'))

RULES = textwrap.dedent('''\
    aliases:
      deepseek: [DeepSeek, 深度求索]
      release:  [release*, launch*, unveil*, ships, 发布]
      delay:    [delay*, postpone*]

    rules:
      - name: R2 release
        match:
          all:
            - "@deepseek"
            - near: [R2, "@release"]
          none: ["@delay"]
        severity: high

      - name: export license
        match:
          all:
            - any: ["export license*", "export licence*"]
            - any: [Nvidia, H20]
    ''')

# The NVDA rule lives in its own file: a rules directory merges them.
QUOTE_RULES = textwrap.dedent('''\
    rules:
      - name: NVDA drops 5 %
        sources: [nvda]
        when: change_pct <= -5
        severity: critical
    ''')

ITEMS = [
    {'id': 'r2-1', 'title': 'DeepSeek releases R2', 'link': 'https://news.example/r2'},
    {'id': 'h20-1', 'title': 'Nvidia gets H20 export licences',
     'summary': 'Commerce grants export licences for the H20.'},
    {'id': 'toy-1', 'title': 'R2-D2 toy recalled'},
    {'id': 'delay-1', 'title': 'DeepSeek R2 release delayed'},
]

# An editor: `python3 SCRIPT FILE`, run by vigilctl through /bin/sh -c.
EDITOR_SCRIPT = textwrap.dedent('''\
    import os, sys, time
    path = sys.argv[1]
    state = os.environ['EDIT_STATE']
    n = int(open(state).read()) + 1 if os.path.exists(state) else 1
    with open(state, 'w') as f:
        f.write(str(n))
    with open(path) as f:
        seen = f.read()
    with open('%s.seen.%d' % (state, n), 'w') as f:
        f.write(seen)
    rounds = os.environ['EDIT_ROUNDS'].split(os.pathsep)
    action = rounds[min(n, len(rounds)) - 1]
    if action == 'keep':
        sys.exit(0)
    if action.startswith('exit'):
        sys.exit(int(action[4:]))
    if action == 'sleep':
        with open(state + '.pid', 'w') as f:
            f.write(str(os.getpid()))
        time.sleep(60)
        sys.exit(0)
    with open(action) as f:
        text = f.read()
    # Write slowly, in small pieces, as a person's editor might: nobody may
    # ever see a part of it in the rules file.
    chunk = int(os.environ.get('EDIT_CHUNK', '0'))
    with open(path, 'w') as f:
        if chunk:
            for i in range(0, len(text), chunk):
                f.write(text[i:i + chunk])
                f.flush()
                time.sleep(0.002)
        else:
            f.write(text)
    ''')

# A stand-in daemon: holds vigild.pid locked (as vigild does) and counts SIGHUPs.
FAKE_DAEMON = textwrap.dedent('''\
    import fcntl, os, signal, sys, time
    pidfile, hups = sys.argv[1], sys.argv[2]
    def hup(sig, frame):
        with open(hups, 'a') as f:
            f.write('hup\\n')
    signal.signal(signal.SIGHUP, hup)
    os.makedirs(os.path.dirname(pidfile), exist_ok=True)
    f = open(pidfile, 'w')
    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    f.write('%d\\n' % os.getpid())
    f.flush()
    print('ready', flush=True)
    while True:
        time.sleep(0.05)
    ''')


class VigilctlTestCase(VigilTestCase):

    def setUp(self):
        super().setUp()
        self.rules_dir = self.path('rules.d')
        os.unlink(self.path('rules.d', 'every-item.yaml'))   # the harness's catch-all
        self.write_file('rules.d/10-news.yaml', RULES)
        self.write_file('rules.d/20-quotes.yaml', QUOTE_RULES)
        self.write_items('items.jsonl', ITEMS)

    def write_items(self, name, items):
        return self.write_file(name, ''.join(json.dumps(i, ensure_ascii=False) + '\n'
                                             for i in items))

    def write_main_config(self, sinks=('out',)):
        return self.write_config({
            'rules': 'rules.d/',
            'sources': [self.jsonl_source('nvda', 'file://' + self.path('items.jsonl'))],
            'sinks': [self.log_sink(name=s, path=s + '.jsonl') for s in sinks],
        })

    def vigilctl(self, *args, env=None, timeout=None, input=None):
        cmd = [VIGILCTL] + list(args)
        e = self.env(extra={'VISUAL': None, 'EDITOR': None})
        if env:
            for k, v in env.items():
                if v is None:
                    e.pop(k, None)
                else:
                    e[k] = v
        try:
            p = subprocess.run(cmd, env=e, cwd=self.dir, capture_output=True,
                               input=(input or '').encode(),
                               timeout=vigiltest.RUN_TIMEOUT if timeout is None else timeout)
        except subprocess.TimeoutExpired as ex:
            self.fail('%s did not finish within %s s' % (' '.join(cmd), ex.timeout))
        r = vigiltest.Result(cmd, p.returncode, p.stdout.decode(errors='replace'),
                             p.stderr.decode(errors='replace'))
        self.check_sanitizers(r.stderr, 'vigilctl')
        return r


class TestCommand(VigilctlTestCase):

    def test_text_output_says_which_rule_fires_and_why(self):
        r = self.vigilctl('test', '--rules', self.rules_dir, 'items.jsonl')
        self.assertOk(r)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], 'r2-1 "DeepSeek releases R2"')
        self.assertRegex(lines[1], r'^  -> R2 release \(high\): title: .*"R2"')
        self.assertEqual(lines[2], 'h20-1 "Nvidia gets H20 export licences"')
        self.assertRegex(lines[3], r'^  -> export license \(normal\): .*licence')
        # Items on which nothing fired are only listed with -v; near-misses do not fire.
        self.assertNotIn('toy-1', r.stdout)
        self.assertNotIn('delay-1', r.stdout)
        self.assertEqual(len(lines), 4, r)
        self.assertIn('4 items', r.stderr)
        # Rules limited to sources are named when no --source is given.
        self.assertIn('NVDA drops 5 %', r.stderr)

        r = self.vigilctl('test', '-v', '--rules', self.rules_dir, 'items.jsonl')
        self.assertOk(r)
        self.assertRegex(r.stdout, r'toy-1 "R2-D2 toy recalled".*\n  \(no rule fired\)')

    def test_feed_files_as_input(self):
        # RSS and JSON Feed documents are read through the rss plugin's parser.
        self.write_file('feed.xml', '''<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Tech</title><link>https://example.org/</link>
<item><title>DeepSeek releases R2</title><link>https://example.org/r2</link>
<guid>rss-r2</guid></item>
<item><title>R2-D2 toy recalled</title><guid>rss-toy</guid></item>
</channel></rss>
''')
        self.write_file('feed.json', json.dumps({
            'version': 'https://jsonfeed.org/version/1.1', 'title': 'Chips',
            'items': [{'id': 'jf-h20', 'title': 'Nvidia gets H20 export licences',
                       'content_text': 'The US grants export licences for H20.'}]}))
        r = self.vigilctl('test', '--json', '--rules', self.rules_dir, 'feed.xml', 'feed.json')
        self.assertOk(r)
        objs = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertEqual([(o['rule'], o['item']['id']) for o in objs],
                         [('R2 release', 'rss-r2'), ('export license', 'jf-h20')])
        self.write_file('broken.xml', '<rss><channel><item><title>x</ti')
        r = self.vigilctl('test', '--rules', self.rules_dir, 'broken.xml')
        self.assertIn('broken.xml', r.stderr)

    def test_nothing_fires_is_still_success(self):
        self.write_items('quiet.jsonl', [{'id': 'q', 'title': 'Soybean exports rise'}])
        r = self.vigilctl('test', '--rules', self.rules_dir, 'quiet.jsonl')
        self.assertOk(r)
        self.assertEqual(r.stdout, '')

    def test_json_output(self):
        r = self.vigilctl('test', '--json', '--rules', self.rules_dir, 'items.jsonl')
        self.assertOk(r)
        objs = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertEqual([(o['rule'], o['item']['id']) for o in objs],
                         [('R2 release', 'r2-1'), ('export license', 'h20-1')])
        o = objs[0]
        self.assertEqual(o['item']['title'], 'DeepSeek releases R2')
        self.assertEqual(o['severity'], 'high')
        self.assertIsInstance(o['reason'], str)
        self.assertTrue(o['reason'])
        self.assertIsInstance(o['reason_terms'], list)
        self.assertIn('R2', [t.get('text') for t in o['reason_terms']])
        for t in o['reason_terms']:
            if t.get('text') == 'R2':
                self.assertEqual((t['field'], t['start'], t['end']), ('title', 18, 20))
        self.assertIn('story_key', o)
        self.assertEqual(o['input'], 'items.jsonl:1')

    def test_jsonl_source_form_and_source_option(self):
        # The jsonl source's form: integer id, keys in camelCase, extra keys are fields.
        self.write_file('quotes.jsonl',
                        '{"id": 17, "Title": "NVDA quote", "symbol": "NVDA", "changePct": -6.5}\n'
                        '{"id": 18, "Title": "NVDA quote", "symbol": "NVDA", "changePct": -7}\n'
                        '{"id": 19, "Title": "NVDA quote", "symbol": "NVDA", '
                        '"fields": {"change_pct": -1}}\n'
                        '{"id": 20, "Title": "NVDA quote", "symbol": "NVDA", "changePct": -9}\n')
        r = self.vigilctl('test', '--rules', self.rules_dir, 'quotes.jsonl')
        self.assertOk(r)
        self.assertEqual(r.stdout, '', 'a sources: rule without --source')
        r = self.vigilctl('test', '--source', 'nvda', '--rules', self.rules_dir, 'quotes.jsonl')
        self.assertOk(r)
        # Edge-triggered along the stream: fires, stays quiet, re-arms, fires again.
        fired = re.findall(r'^(\d+) "NVDA quote"\n  -> NVDA drops 5 % \(critical\)', r.stdout,
                           re.M)
        self.assertEqual(fired, ['17', '20'], r)

    def test_standard_input(self):
        r = self.vigilctl('test', '--rules', self.rules_dir, '-',
                          input=json.dumps(ITEMS[0]) + '\n')
        self.assertOk(r)
        self.assertIn('r2-1 "DeepSeek releases R2"', r.stdout)

    def test_unreadable_input_exits_2_with_file_and_line(self):
        r = self.vigilctl('test', '--rules', self.rules_dir, 'missing.jsonl')
        self.assertExit(r, 2)
        self.assertIn('missing.jsonl', r.stderr)

        self.write_file('damaged.jsonl', json.dumps(ITEMS[0]) + '\n{"id": oops}\n[1, 2]\n'
                        + json.dumps(ITEMS[1]) + '\n')
        r = self.vigilctl('test', '--rules', self.rules_dir, 'damaged.jsonl')
        self.assertExit(r, 2)
        self.assertRegex(r.stderr, r'damaged\.jsonl:2:\d+: error: ')
        self.assertRegex(r.stderr, r'damaged\.jsonl:3:\d+: error: .*JSON object')
        # The good lines are still tested.
        self.assertIn('r2-1', r.stdout)
        self.assertIn('h20-1', r.stdout)

    def test_rules_from_the_configuration_and_its_names(self):
        self.write_main_config()
        r = self.vigilctl('-c', self.config_path, 'test', '--source', 'nvda', 'items.jsonl')
        self.assertOk(r)
        self.assertIn('-> R2 release (high)', r.stdout)
        r = self.vigilctl('test', '-c', self.config_path, 'items.jsonl')
        self.assertOk(r)

        # With a configuration, sink names are checked; without one they are not.
        self.write_file('rules.d/30-notify.yaml',
                        'rules:\n  - name: to team\n    match: [Nvidia]\n    notify: [team]\n')
        r = self.vigilctl('test', '-c', self.config_path, 'items.jsonl')
        self.assertExit(r, 1)
        self.assertRegex(r.stderr, r'30-notify\.yaml:4:\d+: error: .*team')
        r = self.vigilctl('test', '--rules', self.rules_dir, 'items.jsonl')
        self.assertOk(r)
        self.assertIn('-> to team', r.stdout)

    def test_invalid_rules_exit_1(self):
        self.write_file('bad.yaml', 'rules:\n  - name: x\n    match: ["@nope"]\n')
        r = self.vigilctl('test', '--rules', self.path('bad.yaml'), 'items.jsonl')
        self.assertExit(r, 1)
        self.assertRegex(r.stderr, r'bad\.yaml:3:\d+: error: .*nope')

    def test_usage(self):
        self.assertExit(self.vigilctl('test', '--rules', self.rules_dir), 2)
        self.assertExit(self.vigilctl('frobnicate'), 2)
        self.assertIn("did you mean 'check'", self.vigilctl('chek').stderr)
        r = self.vigilctl('--help')
        self.assertOk(r)
        for cmd in ('test', 'check', 'edit'):
            self.assertIn(cmd, r.stdout)
        self.assertOk(self.vigilctl('help', 'edit'))
        self.assertOk(self.vigilctl('test', '--help'))
        r = self.vigilctl('--version')
        self.assertOk(r)
        self.assertRegex(r.stdout, r'^vigilctl \d+\.\d+')


class TestExpect(VigilctlTestCase):

    def expect(self, text, *args):
        self.write_file('tests/expect.yaml', textwrap.dedent(text))
        self.write_file('tests/news.jsonl', self.read_file('items.jsonl'))
        return self.vigilctl('test', '--rules', self.rules_dir, *args,
                             '--expect', self.path('tests', 'expect.yaml'))

    def test_all_expectations_hold(self):
        r = self.expect('''\
            - input: news.jsonl
              item: r2-1
              rule: R2 release
              fires: true
            - input: news.jsonl
              item: toy-1
              rule: R2 release
              fires: false
            - input: news.jsonl
              rule: export license
              fires: true
            - item: {id: inline-1, title: "深度求索R2发布"}
              rule: R2 release
              fires: true
            ''')
        self.assertOk(r)
        self.assertIn('4 expectations, 0 failed', r.stdout)

    def test_mismatch_exits_1_with_a_diff(self):
        r = self.expect('''\
            - input: news.jsonl
              item: r2-1
              rule: R2 release
              fires: true
            - input: news.jsonl
              item: delay-1
              rule: R2 release
              fires: true
            - input: news.jsonl
              item: h20-1
              rule: export license
              fires: false
            ''')
        self.assertExit(r, 1)
        self.assertIn('expect.yaml:5:3: expected "R2 release" to fire on item delay-1 '
                      '("DeepSeek R2 release delayed"), it did not\n'
                      '    - fires: true\n'
                      '    + fires: false\n', r.stdout)
        self.assertIn('expect.yaml:9:3: expected "export license" not to fire on item h20-1 '
                      '("Nvidia gets H20 export licences"), it did\n'
                      '    - fires: false\n'
                      '    + fires: true\n', r.stdout)
        self.assertRegex(r.stdout, r'      why: .*licence')
        self.assertIn('3 expectations, 2 failed', r.stdout)
        self.assertNotIn('expect.yaml:1:', r.stdout)

    def test_whole_file_expectations(self):
        r = self.expect('''\
            - input: news.jsonl
              rule: export license
              fires: false
            ''')
        self.assertExit(r, 1)
        self.assertIn('expected "export license" not to fire on news.jsonl, it fired on '
                      '1 of 4 items', r.stdout)
        self.assertRegex(r.stdout, r'why: h20-1: ')

    def test_unknown_rule_and_unknown_item_fail(self):
        r = self.expect('''\
            - input: news.jsonl
              rule: R2 relase
              fires: false
            - input: news.jsonl
              item: nope-1
              rule: R2 release
              fires: false
            ''')
        self.assertExit(r, 1)
        self.assertIn('expect.yaml:1:3: no rule named "R2 relase"', r.stdout)
        self.assertIn('did you mean "R2 release"?', r.stdout)
        self.assertIn('expect.yaml:4:3: no item with id "nope-1" in news.jsonl', r.stdout)
        self.assertIn('2 expectations, 2 failed', r.stdout)

    def test_malformed_expect_file_exits_2(self):
        r = self.expect('''\
            - input: news.jsonl
              rul: R2 release
              fires: maybe
            - input: missing.jsonl
              rule: R2 release
              fires: true
            ''')
        self.assertExit(r, 2)
        self.assertRegex(r.stderr, r'expect\.yaml:2:3: error: unknown key "rul" '
                                   r'\(did you mean "rule"\?\)')
        self.assertRegex(r.stderr, r'expect\.yaml:3:10: error: .*true or false')

        r = self.expect('''\
            - input: missing.jsonl
              rule: R2 release
              fires: true
            ''')
        self.assertExit(r, 2)
        self.assertRegex(r.stderr, r'expect\.yaml:1:10: error: cannot read .*missing\.jsonl')

    def test_expectations_do_not_share_edge_state(self):
        # The same crossing twice: each expectation starts afresh, so both fire.
        r = self.expect('''\
            - item: {id: q1, symbol: NVDA, change_pct: -6}
              source: nvda
              rule: NVDA drops 5 %
              fires: true
            - item: {id: q2, symbol: NVDA, change_pct: -6}
              source: nvda
              rule: NVDA drops 5 %
              fires: true
            - item: {id: q3, symbol: NVDA, change_pct: -6}
              rule: NVDA drops 5 %
              fires: false
            ''')
        self.assertOk(r)
        self.assertIn('3 expectations, 0 failed', r.stdout)


class TestCheck(VigilctlTestCase):

    def test_valid_rules(self):
        r = self.vigilctl('check', self.rules_dir)
        self.assertOk(r)
        self.assertIn('OK (3 rules)', r.stdout)
        r = self.vigilctl('check', self.path('rules.d', '10-news.yaml'))
        self.assertOk(r)
        self.assertIn('OK (2 rules)', r.stdout)

    def test_invalid_rules_exit_1_with_file_line_column(self):
        self.write_file('bad/bad.yaml', textwrap.dedent('''\
            rules:
              - name: broken regex
                match:
                  regex: '(unclosed'
              - name: typo
                mach: [x]
            '''))
        r = self.vigilctl('check', self.path('bad'))
        self.assertExit(r, 1)
        self.assertRegex(r.stderr, r'bad\.yaml:4:\d+: error: .*regex')
        self.assertRegex(r.stderr, r'bad\.yaml:6:5: error: .*mach.*match')
        self.assertEqual(r.stdout, '')

    def test_configuration_as_vigild_check(self):
        self.write_main_config()
        r = self.vigilctl('-c', self.config_path, 'check')
        self.assertOk(r)
        self.assertRegex(r.stdout, r'OK \(1 sources, 1 sinks, 3 rules\)')
        self.assertEqual(r.stdout, self.check().stdout)

        self.write_file('rules.d/30-notify.yaml',
                        'rules:\n  - name: to team\n    match: [Nvidia]\n    notify: [team]\n')
        r = self.vigilctl('check', '-c', self.config_path)
        self.assertExit(r, 1)
        self.assertRegex(r.stderr, r'30-notify\.yaml:4:\d+: error: .*team')
        self.assertExit(self.check(), 1)


class TestEdit(VigilctlTestCase):

    def setUp(self):
        super().setUp()
        self.write_file('editor.py', EDITOR_SCRIPT)
        self.state = self.path('editor-state')
        self.runtime = self.path('xdg-runtime')
        self.target = self.path('rules.d', '10-news.yaml')
        self.write_file('valid.yaml', RULES + '\n'
                        '  - name: Ascend training\n'
                        '    match:\n'
                        '      all: [Ascend, training]\n')
        self.write_file('invalid.yaml', RULES + '\n'
                        '  - name: Ascend training\n'
                        '    mach:\n'
                        '      all: [Ascend, training]\n')
        self.write_file('empty.yaml', '\n')

    def edit(self, *rounds, args=(), chunk=0, env=None, **kw):
        e = {
            'EDITOR': '"%s" "%s"' % (sys.executable, self.path('editor.py')),
            'EDIT_STATE': self.state,
            'EDIT_ROUNDS': os.pathsep.join(self.path(r) if r.endswith('.yaml') else r
                                           for r in rounds),
            'EDIT_CHUNK': str(chunk),
        }
        e.update(env or {})
        return self.vigilctl('edit', '--rules', self.rules_dir, *args, env=e, **kw)

    def seen(self, n):
        with open('%s.seen.%d' % (self.state, n)) as f:
            return f.read()

    def rounds(self):
        return int(self.read_file('editor-state', default='0') or 0)

    def leftovers(self):
        return sorted(n for n in os.listdir(self.rules_dir) if 'vigilctl' in n)

    def test_valid_edit_is_installed_atomically(self):
        os.chmod(self.target, 0o640)
        before = os.stat(self.target)
        r = self.edit('valid.yaml', args=['10-news'])
        self.assertOk(r)
        self.assertEqual(self.read_file('rules.d/10-news.yaml'), self.read_file('valid.yaml'))
        self.assertIn('installed (4 rules)', r.stdout)
        after = os.stat(self.target)
        # A new file renamed over the old one (not rewritten in place), same mode.
        self.assertNotEqual(before.st_ino, after.st_ino)
        self.assertEqual(stat.S_IMODE(after.st_mode), 0o640)
        self.assertEqual(self.leftovers(), [])
        # The editor was given the current rules.
        self.assertEqual(self.seen(1), RULES)
        # No daemon: say so, it is fine.
        self.assertIn('reloads by itself', r.stdout)

    def test_default_file_and_new_file(self):
        # Without NAME: the first *.yaml in name order.
        r = self.edit('valid.yaml')
        self.assertOk(r)
        self.assertEqual(self.read_file('rules.d/10-news.yaml'), self.read_file('valid.yaml'))

        # A new file: ".yaml" added, validated together with the others.
        self.write_file('new.yaml', 'rules:\n  - name: Huawei\n    match: [Huawei]\n')
        os.remove(self.state)
        r = self.edit('new.yaml', args=['huawei'])
        self.assertOk(r)
        self.assertEqual(self.read_file('rules.d/huawei.yaml'), self.read_file('new.yaml'))
        self.assertIn('installed (5 rules)', r.stdout)

    def test_duplicate_across_files_is_refused(self):
        # The copy is validated with the other files: a name clash is an error.
        self.write_file('dup.yaml', 'rules:\n  - name: R2 release\n    match: [x]\n')
        r = self.edit('dup.yaml', 'keep', args=['extra'])
        self.assertExit(r, 1)
        self.assertIn('R2 release', self.seen(2))
        self.assertFalse(os.path.exists(self.path('rules.d', 'extra.yaml')))
        self.assertEqual(self.leftovers(), [])

    def test_invalid_then_valid_reopens_with_the_errors_on_top(self):
        r = self.edit('invalid.yaml', 'valid.yaml', args=['10-news.yaml'])
        self.assertOk(r)
        self.assertEqual(self.rounds(), 2)
        second = self.seen(2)
        head = second.split('\n')
        self.assertTrue(head[0].startswith('# vigilctl: '), second)
        marks = [line for line in head if line.startswith('# vigilctl: ')]
        errors = [line for line in marks if 'unknown key `mach`' in line]
        self.assertEqual(len(errors), 1, second)
        m = re.match(r'# vigilctl: (.*10-news\.yaml):(\d+):(\d+): error: ', errors[0])
        self.assertTrue(m, errors[0])
        # The line number points at the offending line as the editor shows it.
        self.assertEqual(head[int(m.group(2)) - 1].strip(), 'mach:')
        # Below the comments: exactly what the user wrote.
        self.assertEqual('\n'.join(head[len(marks):]), self.read_file('invalid.yaml'))
        # The final install is the valid one, without the comments.
        self.assertEqual(self.read_file('rules.d/10-news.yaml'), self.read_file('valid.yaml'))
        self.assertEqual(self.leftovers(), [])
        self.assertIn('mach', r.stderr)

    def test_give_up_after_an_error(self):
        for second in ('keep', 'empty.yaml'):
            with self.subTest(second=second):
                if os.path.exists(self.state):
                    os.remove(self.state)
                r = self.edit('invalid.yaml', second)
                self.assertExit(r, 1)
                self.assertIn('no changes installed', r.stdout)
                self.assertEqual(self.read_file('rules.d/10-news.yaml'), RULES)
                self.assertEqual(self.leftovers(), [])

    def test_unchanged_or_failed_editor_installs_nothing(self):
        before = os.stat(self.target).st_ino
        r = self.edit('keep')
        self.assertExit(r, 1)
        self.assertIn('no changes installed', r.stdout)
        os.remove(self.state)
        r = self.edit('exit3')
        self.assertExit(r, 1)
        self.assertIn('status 3', r.stderr)
        self.assertEqual(os.stat(self.target).st_ino, before)
        self.assertEqual(self.read_file('rules.d/10-news.yaml'), RULES)
        self.assertEqual(self.leftovers(), [])

    def test_editor_with_arguments_and_visual(self):
        # VISUAL wins over EDITOR; the command may carry arguments (sh -c).
        r = self.edit('valid.yaml', env={
            'VISUAL': '"%s" -I "%s"' % (sys.executable, self.path('editor.py')),
            'EDITOR': 'false',
        })
        self.assertOk(r)
        self.assertEqual(self.read_file('rules.d/10-news.yaml'), self.read_file('valid.yaml'))

    def test_rules_file_never_half_written(self):
        # A big rules file written slowly by the editor, twice (invalid, then
        # valid), while a reader watches the target: it only ever sees the old
        # file or the new one.
        extra = ''.join('  - name: filler %d\n    match: [filler%d]\n' % (i, i)
                        for i in range(400))
        self.write_file('big-valid.yaml', RULES + extra)
        self.write_file('big-invalid.yaml', RULES + extra + '  - name: broken\n    mach: [x]\n')
        old, new = RULES, RULES + extra
        seen = set()
        done = threading.Event()

        def watch():
            while not done.is_set():
                try:
                    with open(self.target) as f:
                        seen.add(f.read())
                except FileNotFoundError:
                    seen.add(None)

        t = threading.Thread(target=watch)
        t.start()
        try:
            r = self.edit('big-invalid.yaml', 'big-valid.yaml', chunk=512)
        finally:
            done.set()
            t.join()
        self.assertOk(r)
        self.assertEqual(self.read_file('rules.d/10-news.yaml'), new)
        self.assertTrue(seen <= {old, new},
                        'a reader saw something else than the old or the new rules: %r'
                        % [s if s is None else len(s) for s in seen - {old, new}])
        self.assertEqual(self.leftovers(), [])

    def test_killed_while_editing_leaves_the_rules_alone(self):
        e = self.env(extra={'VISUAL': None,
                            'EDITOR': '"%s" "%s"' % (sys.executable, self.path('editor.py')),
                            'EDIT_STATE': self.state, 'EDIT_ROUNDS': 'sleep'})
        p = subprocess.Popen([VIGILCTL, 'edit', '--rules', self.rules_dir], env=e, cwd=self.dir,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + vigiltest.WAIT
            while self.rounds() < 1 and time.monotonic() < deadline:
                time.sleep(0.02)
            self.assertEqual(len(self.leftovers()), 1, 'the editing copy is beside the target')
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=vigiltest.WAIT)
        finally:
            if p.poll() is None:
                p.kill()
            # The editor outlives vigilctl (as it would in a terminal): stop it.
            deadline = time.monotonic() + vigiltest.WAIT
            while not os.path.exists(self.state + '.pid') and time.monotonic() < deadline:
                time.sleep(0.02)
            try:
                os.kill(int(self.read_file('editor-state.pid')), signal.SIGKILL)
            except (OSError, ValueError):
                pass
            p.communicate()
        self.assertEqual(p.returncode, -signal.SIGTERM)
        self.assertEqual(self.read_file('rules.d/10-news.yaml'), RULES)
        self.assertEqual(self.leftovers(), [])

    def test_tells_the_running_daemon(self):
        self.write_file('fake-daemon.py', FAKE_DAEMON)
        pidfile = os.path.join(self.runtime, 'vigil', 'vigild.pid')
        hups = self.path('hups')
        d = subprocess.Popen([sys.executable, self.path('fake-daemon.py'), pidfile, hups],
                             stdout=subprocess.PIPE)
        try:
            self.assertEqual(d.stdout.readline().strip(), b'ready')
            r = self.edit('valid.yaml')
            self.assertOk(r)
            self.assertIn('told vigild (pid %d) to reload' % d.pid, r.stdout)
            deadline = time.monotonic() + vigiltest.WAIT
            while not os.path.exists(hups) and time.monotonic() < deadline:
                time.sleep(0.02)
            self.assertEqual(self.read_file('hups'), 'hup\n')
        finally:
            d.kill()
            d.wait()
            d.stdout.close()
        # A pid file nobody holds (the daemon died): no signal, and say so.
        os.remove(self.state)
        self.write_file('v2.yaml', RULES)
        r = self.edit('v2.yaml')
        self.assertOk(r)
        self.assertIn('not running', r.stdout)
        self.assertEqual(self.read_file('hups'), 'hup\n')

    @unittest.skipUnless(os.access(vigiltest.VIGILD, os.X_OK), 'vigild not built')
    def test_real_daemon_reloads(self):
        self.write_main_config()
        d = self.start_daemon()
        d.wait_log(r'info: vigild \S+ started')
        r = self.vigilctl('-c', self.config_path, 'edit', '10-news', env={
            'EDITOR': '"%s" "%s"' % (sys.executable, self.path('editor.py')),
            'EDIT_STATE': self.state, 'EDIT_ROUNDS': self.path('valid.yaml')})
        self.assertOk(r)
        self.assertIn('told vigild (pid %d) to reload' % d.pid, r.stdout)
        d.wait_log(r'info: reloading ')

    def test_configuration_without_rules_gets_a_rules_dir(self):
        self.write_config({'sinks': [self.log_sink()]}, name='bare/vigil.yaml')
        cfg = self.path('bare', 'vigil.yaml')
        e = {'EDITOR': '"%s" "%s"' % (sys.executable, self.path('editor.py')),
             'EDIT_STATE': self.state, 'EDIT_ROUNDS': 'keep'}
        r = self.vigilctl('-c', cfg, 'edit', env=e)
        self.assertExit(r, 1)
        self.assertFalse(os.path.exists(self.path('bare', 'rules.d')), 'removed again')
        os.remove(self.state)
        e['EDIT_ROUNDS'] = self.path('valid.yaml')
        r = self.vigilctl('-c', cfg, 'edit', env=e)
        self.assertOk(r)
        self.assertEqual(self.read_file('bare/rules.d/rules.yaml'), self.read_file('valid.yaml'))
        # The configuration now finds them by itself.
        r = self.vigilctl('-c', cfg, 'test', 'items.jsonl')
        self.assertOk(r)
        self.assertIn('-> R2 release', r.stdout)

    def test_single_rules_file(self):
        single = self.write_file('single.yaml', RULES)
        link = self.path('linked.yaml')
        os.symlink(single, link)
        e = {'EDITOR': '"%s" "%s"' % (sys.executable, self.path('editor.py')),
             'EDIT_STATE': self.state, 'EDIT_ROUNDS': self.path('valid.yaml')}
        r = self.vigilctl('edit', '--rules', link, env=e)
        self.assertOk(r)
        # The link stays a link; the file it points to is replaced.
        self.assertTrue(os.path.islink(link))
        self.assertEqual(self.read_file('single.yaml'), self.read_file('valid.yaml'))
        self.assertEqual([n for n in os.listdir(self.dir) if 'vigilctl' in n], [])
        r = self.vigilctl('edit', '--rules', link, 'name', env=e)
        self.assertExit(r, 1)


def main():
    if not os.access(VIGILCTL, os.X_OK):
        sys.stderr.write('VIGILCTL not found or not executable: %s (build first, or set '
                         '$VIGILCTL)\n' % VIGILCTL)
        sys.exit(2)
    unittest.main(verbosity=2)


if __name__ == '__main__':
    main()
